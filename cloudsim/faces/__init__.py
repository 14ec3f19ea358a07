"""One protocol face per real cloud API, all on the shared model (cloudsim.model)."""
from .aliyun import AliyunFace
from .aws import AwsFace
from .tencent import TencentFace

# Tried in order; each face recognises its own requests by header (see each module's docstring).
# HuaweiCloud (path /v1/{project_id}/..., Authorization SDK-HMAC-SHA256) and BaiduCloud
# (Authorization bce-auth-v1/...) faces go here.
FACES = (AliyunFace, TencentFace, AwsFace)

__all__ = ["FACES", "AliyunFace", "AwsFace", "TencentFace"]
