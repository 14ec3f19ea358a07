"""Local cloud emulator: one simulated cloud, a protocol face per real API, one port.

    from cloudsim import CloudSim
    sim = CloudSim(credentials={"AK": "SK"})
    server = sim.serve()          # server.url == "http://127.0.0.1:PORT"
    ...                           # point the real SDK clients at server.url
    server.stop()

A development tool: nothing in app/ imports it, and it imports nothing from app/.
"""
from .catalog import CATALOGUES, PROVIDERS
from .model import LaunchSpec, SimError, SimInstance, SimRule, SimSecurityGroup, SimSubnet, SimVpc
from .sim import OP_CLASSES, CloudSim, RequestRecord

__all__ = ["CATALOGUES", "OP_CLASSES", "PROVIDERS", "CloudSim", "LaunchSpec", "RequestRecord", "SimError",
           "SimInstance", "SimRule", "SimSecurityGroup", "SimSubnet", "SimVpc"]
