"""Static catalogue of the simulated clouds: regions, zones, instance types, images, id shapes.

Names are the real ones so drivers and fixtures can be written against the emulator and a real
account alike. Every instance type is offered in every zone of its provider; stock is limited
only through the `capacity` knob.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ZoneInfo:
    zone_id: str
    name: str
    number: str = ""  # Tencent's numeric ZoneId, AWS's zone id (use1-az1)


@dataclass(frozen=True)
class RegionInfo:
    region_id: str
    name: str
    zones: tuple


@dataclass(frozen=True)
class InstanceTypeInfo:
    name: str
    family: str
    cores: int
    memory_gb: float
    arch: str = "x86_64"


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    name: str
    os_type: str  # linux / windows
    os_name: str
    platform: str
    size_gb: int = 20
    arch: str = "x86_64"


@dataclass(frozen=True)
class NetRules:
    """CIDR prefix lengths a provider accepts for VPCs and subnets, and addresses it reserves."""

    vpc_prefix: tuple = (8, 28)
    subnet_prefix: tuple = (16, 29)
    reserved_head: int = 3  # network address, gateway, ... at the start of a subnet
    reserved_tail: int = 1  # broadcast at the end


@dataclass(frozen=True)
class Catalogue:
    regions: tuple
    instance_types: tuple
    images: tuple
    net: NetRules = field(default_factory=NetRules)
    # kind -> (prefix, length, alphabet); "uuid" as prefix means a uuid4
    id_shapes: dict = field(default_factory=dict)
    public_ip_base: str = "100.64.0.0"
    names_by_tag: bool = False  # the API names VPCs, subnets and groups by a "Name" tag (AWS)

    def region(self, region_id):
        return next((r for r in self.regions if r.region_id == region_id), None)

    def zone(self, region_id, zone_id):
        region = self.region(region_id)
        return next((z for z in region.zones if z.zone_id == zone_id), None) if region else None

    def instance_type(self, name):
        return next((t for t in self.instance_types if t.name == name), None)

    def image(self, image_id):
        return next((i for i in self.images if i.image_id == image_id), None)


LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
HEX = "0123456789abcdef"
MIXED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _zones(region, letters, numbers=None):
    numbers = numbers or [""] * len(letters)
    return tuple(ZoneInfo(f"{region}{sep}{l}", f"{region} zone {l.upper()}", n)
                 for (sep, l), n in zip(letters, numbers))


ALIBABA = Catalogue(
    regions=(
        RegionInfo("cn-qingdao", "华北1（青岛）", _zones("cn-qingdao", [("-", "b"), ("-", "c")])),
        RegionInfo("cn-beijing", "华北2（北京）", _zones("cn-beijing", [("-", "h"), ("-", "g"), ("-", "i")])),
        RegionInfo("cn-hangzhou", "华东1（杭州）", _zones("cn-hangzhou", [("-", "h"), ("-", "i"), ("-", "j")])),
    ),
    instance_types=(
        InstanceTypeInfo("ecs.g6.large", "ecs.g6", 2, 8),
        InstanceTypeInfo("ecs.g6.xlarge", "ecs.g6", 4, 16),
        InstanceTypeInfo("ecs.c6.large", "ecs.c6", 2, 4),
        InstanceTypeInfo("ecs.n1.tiny", "ecs.n1", 1, 1),
        InstanceTypeInfo("ecs.s6-c1m1.small", "ecs.s6", 1, 1),
        InstanceTypeInfo("ecs.t5-lc1m2.small", "ecs.t5", 1, 2),
    ),
    images=(
        ImageInfo("centos_7_6_x64_20G_alibase_20211030.vhd", "centos_7_6_x64_20G_alibase_20211030.vhd",
                  "linux", "CentOS  7.6 64位", "CentOS"),
        ImageInfo("ubuntu_20_04_x64_20G_alibase_20230718.vhd", "ubuntu_20_04_x64_20G_alibase_20230718.vhd",
                  "linux", "Ubuntu  20.04 64位", "Ubuntu"),
        ImageInfo("aliyun_3_x64_20G_alibase_20230727.vhd", "aliyun_3_x64_20G_alibase_20230727.vhd",
                  "linux", "Alibaba Cloud Linux  3.2104 LTS 64位", "Aliyun"),
        ImageInfo("win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
                  "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
                  "windows", "Windows Server  2019 数据中心版 64位中文版", "Windows Server 2019", 40),
    ),
    net=NetRules(vpc_prefix=(8, 28), subnet_prefix=(16, 29), reserved_head=3, reserved_tail=1),
    id_shapes={"instance": ("i-", 20, LOWER), "vpc": ("vpc-", 21, LOWER), "subnet": ("vsw-", 21, LOWER),
               "security_group": ("sg-", 20, LOWER), "rule": ("sgr-", 20, LOWER)},
    public_ip_base="47.96.0.0",
)

TENCENT = Catalogue(
    regions=(
        RegionInfo("ap-guangzhou", "华南地区(广州)",
                   _zones("ap-guangzhou", [("-", "3"), ("-", "4"), ("-", "6")], ["100003", "100004", "100006"])),
        RegionInfo("ap-beijing", "华北地区(北京)",
                   _zones("ap-beijing", [("-", "3"), ("-", "5"), ("-", "6")], ["800003", "800005", "800006"])),
        RegionInfo("ap-shanghai", "华东地区(上海)",
                   _zones("ap-shanghai", [("-", "2"), ("-", "4")], ["200002", "200004"])),
    ),
    instance_types=(
        InstanceTypeInfo("S5.SMALL2", "S5", 1, 2),
        InstanceTypeInfo("S5.MEDIUM4", "S5", 2, 4),
        InstanceTypeInfo("S5.LARGE8", "S5", 4, 8),
        InstanceTypeInfo("SA2.MEDIUM4", "SA2", 2, 4),
        InstanceTypeInfo("S6.LARGE16", "S6", 4, 16),
    ),
    images=(
        ImageInfo("img-9qabwvbn", "CentOS 7.6 64位", "linux", "CentOS 7.6 64位", "CentOS"),
        ImageInfo("img-l8og963d", "CentOS 7.9 64位", "linux", "CentOS 7.9 64位", "CentOS"),
        ImageInfo("img-487zeit5", "Ubuntu Server 22.04 LTS 64位", "linux", "Ubuntu Server 22.04 LTS 64位",
                  "Ubuntu"),
        ImageInfo("img-eb30mz89", "TencentOS Server 3.1 (TK4)", "linux", "TencentOS Server 3.1 (TK4)",
                  "TencentOS"),
    ),
    net=NetRules(vpc_prefix=(12, 28), subnet_prefix=(12, 29), reserved_head=2, reserved_tail=1),
    id_shapes={"instance": ("ins-", 8, LOWER), "vpc": ("vpc-", 8, LOWER), "subnet": ("subnet-", 8, LOWER),
               "security_group": ("sg-", 8, LOWER), "rule": ("sgp-", 8, LOWER)},
    public_ip_base="81.68.0.0",
)

AWS = Catalogue(
    regions=(
        RegionInfo("us-east-1", "US East (N. Virginia)",
                   _zones("us-east-1", [("", "a"), ("", "b"), ("", "c")], ["use1-az6", "use1-az1", "use1-az2"])),
        RegionInfo("us-west-2", "US West (Oregon)",
                   _zones("us-west-2", [("", "a"), ("", "b")], ["usw2-az1", "usw2-az2"])),
        RegionInfo("eu-west-1", "Europe (Ireland)",
                   _zones("eu-west-1", [("", "a"), ("", "b")], ["euw1-az1", "euw1-az2"])),
    ),
    instance_types=(
        InstanceTypeInfo("t3.micro", "t3", 2, 1),
        InstanceTypeInfo("t3.small", "t3", 2, 2),
        InstanceTypeInfo("t3.medium", "t3", 2, 4),
        InstanceTypeInfo("m5.large", "m5", 2, 8),
        InstanceTypeInfo("c5.large", "c5", 2, 4),
    ),
    images=(
        ImageInfo("ami-0c02fb55956c7d316", "amzn2-ami-kernel-5.10-hvm-2.0.20220606.1-x86_64-gp2", "linux",
                  "Amazon Linux 2", "Linux/UNIX", 8),
        ImageInfo("ami-04505e74c0741db8d", "ubuntu/images/hvm-ssd/ubuntu-focal-20.04-amd64-server-20211129",
                  "linux", "Ubuntu 20.04", "Linux/UNIX", 8),
        ImageInfo("ami-0be0e902919675894", "Windows_Server-2019-English-Full-Base-2022.01.12", "windows",
                  "Windows Server 2019", "windows", 30),
    ),
    net=NetRules(vpc_prefix=(16, 28), subnet_prefix=(16, 28), reserved_head=4, reserved_tail=1),
    id_shapes={"instance": ("i-", 17, HEX), "vpc": ("vpc-", 17, HEX), "subnet": ("subnet-", 17, HEX),
               "security_group": ("sg-", 17, HEX), "rule": ("sgr-", 17, HEX), "reservation": ("r-", 17, HEX)},
    public_ip_base="54.160.0.0",
    names_by_tag=True,
)

HUAWEI = Catalogue(
    regions=(
        RegionInfo("cn-north-4", "华北-北京四", _zones("cn-north-4", [("", "a"), ("", "b"), ("", "c")])),
        RegionInfo("cn-east-3", "华东-上海一", _zones("cn-east-3", [("", "a"), ("", "b")])),
    ),
    instance_types=(
        InstanceTypeInfo("s6.small.1", "s6", 1, 1),
        InstanceTypeInfo("s6.large.2", "s6", 2, 4),
        InstanceTypeInfo("s6.large.4", "s6", 2, 8),
        InstanceTypeInfo("c6.large.2", "c6", 2, 4),
    ),
    images=(
        ImageInfo("67f433d8-ed0e-4321-a8a2-a71838539e09", "CentOS 7.6 64bit", "linux", "CentOS 7.6 64bit",
                  "CentOS", 40),
        ImageInfo("0b5f0b2f-1b0c-4ef6-8e33-5c3f1b1a3e9c", "Ubuntu 20.04 server 64bit", "linux",
                  "Ubuntu 20.04 server 64bit", "Ubuntu", 40),
    ),
    net=NetRules(vpc_prefix=(8, 28), subnet_prefix=(16, 29), reserved_head=2, reserved_tail=3),
    id_shapes={k: ("uuid", 0, "") for k in ("instance", "vpc", "subnet", "security_group", "rule", "job")},
    public_ip_base="121.36.0.0",
)

BAIDU = Catalogue(
    regions=(
        RegionInfo("bj", "北京", _zones("cn-bj", [("-", "a"), ("-", "b"), ("-", "c"), ("-", "d")])),
        RegionInfo("gz", "广州", _zones("cn-gz", [("-", "a"), ("-", "b"), ("-", "c")])),
    ),
    instance_types=(
        InstanceTypeInfo("bcc.g4.c2m8", "bcc.g4", 2, 8),
        InstanceTypeInfo("bcc.g4.c4m16", "bcc.g4", 4, 16),
        InstanceTypeInfo("bcc.c4.c2m4", "bcc.c4", 2, 4),
        InstanceTypeInfo("bcc.g5.c2m8", "bcc.g5", 2, 8),
        InstanceTypeInfo("bcc.g5.c4m16", "bcc.g5", 4, 16),
        InstanceTypeInfo("bcc.c5.c2m4", "bcc.c5", 2, 4),
    ),
    images=(
        ImageInfo("m-jDhcEVZs", "7.6 x86_64 (64bit)", "linux", "CentOS 7.6", "CentOS"),
        ImageInfo("m-Mfbi3ynB", "20.04 LTS amd64 (64bit)", "linux", "Ubuntu 20.04", "Ubuntu"),
    ),
    net=NetRules(vpc_prefix=(8, 28), subnet_prefix=(16, 29), reserved_head=2, reserved_tail=1),
    id_shapes={"instance": ("i-", 8, MIXED), "vpc": ("vpc-", 12, LOWER), "subnet": ("sbn-", 12, LOWER),
               "security_group": ("g-", 12, LOWER), "rule": ("r-", 12, LOWER)},
    public_ip_base="180.76.0.0",
)

CATALOGUES = {
    "AlibabaCloud": ALIBABA,
    "TencentCloud": TENCENT,
    "AWSCloud": AWS,
    "HuaweiCloud": HUAWEI,
    "BaiduCloud": BAIDU,
}
PROVIDERS = tuple(CATALOGUES)
