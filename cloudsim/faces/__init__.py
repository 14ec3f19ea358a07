"""One protocol face per real cloud API, all on the shared model (cloudsim.model)."""
from .aliyun import AliyunFace
from .aws import AwsFace
from .baidu import BaiduFace
from .huawei import HuaweiFace
from .tencent import TencentFace

# Tried in order; each face recognises its own requests by header (see each module's docstring):
# HuaweiCloud by Authorization SDK-HMAC-SHA256 / X-Sdk-Date, BaiduCloud by Authorization bce-auth-v1/.
FACES = (AliyunFace, TencentFace, AwsFace, HuaweiFace, BaiduFace)

__all__ = ["FACES", "AliyunFace", "AwsFace", "BaiduFace", "HuaweiFace", "TencentFace"]
