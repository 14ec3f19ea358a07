"""Elastic-cluster faults for the emulator (kept apart from the other knobs so they merge easily):

- stock-outs per (provider, zone, instance type): every create there answers no_capacity;
- spot refusal: spot creates (every face sets extra["spot_strategy"] to something other than
  "NoSpot" for a spot request, as it reads its cloud's spot fields; see `is_spot`) answer
  no_capacity, for a provider or one (provider, zone, instance type);
- machines that die, are reclaimed or stop after a delay: a rule for machines created from now on
  (a fraction of them, optionally only spot ones; its verdict is taken when a machine is created
  and kept if the rule is later replaced), or a one-off for given instance ids. A stopped machine
  stays, and every face shows it in its cloud's stopped state.

All of these are also knobs of `POST /_sim/faults` (faults.py: `stock_outs`, `spot_refused`,
`die_after` for the rules, `kill` for the pending one-offs).

Like the rest of the model, time is not driven by threads: due deaths are applied whenever the
model reads or writes instances (`Cloud.faults.apply`, called with the model's lock held).
"""
from __future__ import annotations

import argparse
import heapq
import random
import time
from typing import Optional


HOWS = ("die", "reclaim", "stop")  # ended, ended as a reclaimed spot machine, stopped


def is_spot(spec_or_instance) -> bool:
    return (getattr(spec_or_instance, "extra", None) or {}).get("spot_strategy", "NoSpot") not in ("", "NoSpot")


class Faults:
    def __init__(self, seed: Optional[int] = None):
        self._rng = random.Random(seed)
        self.reset()

    def reset(self) -> None:
        """Forget every fault (the model's reset calls this too)."""
        self.stock_outs: set = set()  # (provider, zone, type)
        self.spot_refused: set = set()  # provider, or (provider, zone, type)
        self.rules: list[dict] = []  # {"after", "fraction", "spot_only", "how"}
        self._due: list = []  # heap of (at, seq, provider, instance_id, how, one_off)
        self._seq = 0
        self.killed: list[tuple] = []  # (at, provider, instance_id, how), for tests and logs

    # ---------------------------------------------------------------- configuration
    def stock_out(self, provider: str, zone: str, instance_type: str, on: bool = True) -> None:
        (self.stock_outs.add if on else self.stock_outs.discard)((provider, zone, instance_type))

    def refuse_spot(self, provider: str, zone: Optional[str] = None, instance_type: Optional[str] = None,
                    on: bool = True) -> None:
        key = provider if zone is None else (provider, zone, instance_type)
        (self.spot_refused.add if on else self.spot_refused.discard)(key)

    def die_after(self, seconds: float, fraction: float = 1.0, spot_only: bool = False, how: str = "die") -> None:
        """Machines created from now on: each with probability `fraction` dies (how="die"), is
        reclaimed (how="reclaim") or stops (how="stop") `seconds` after it was created."""
        self.rules.append({"after": float(seconds), "fraction": float(fraction), "spot_only": spot_only, "how": how})

    def kill(self, provider: str, instance_ids, after: float = 0.0, how: str = "die") -> None:
        """End (how="die"/"reclaim") or stop (how="stop") these instances `after` seconds from now."""
        at = time.time() + after
        for iid in instance_ids:
            self._schedule(at, provider, iid, how, True)

    def set_kills(self, kills: list) -> None:
        """Replace the pending one-offs with `kills` ([{provider, instance_ids, after, how}]); the
        deaths rules already chose for existing machines stay."""
        self._due = [e for e in self._due if not e[5]]
        heapq.heapify(self._due)
        for k in kills:
            self.kill(k["provider"], k["instance_ids"], k["after"], k["how"])

    def pending_kills(self, now: float) -> list:
        """The one-offs not yet due, as `set_kills` takes them (`after` counted from `now`)."""
        groups: dict = {}
        for at, _, provider, iid, how, one_off in sorted(self._due):
            if one_off and at > now:
                groups.setdefault((at, provider, how), []).append(iid)
        return [{"provider": p, "instance_ids": ids, "after": round(at - now, 3), "how": how}
                for (at, p, how), ids in groups.items()]

    def _schedule(self, at: float, provider: str, iid: str, how: str, one_off: bool = False) -> None:
        self._seq += 1
        heapq.heappush(self._due, (at, self._seq, provider, iid, how, one_off))

    # ---------------------------------------------------------------- hooks (model lock held)
    def check_create(self, provider: str, zone: str, instance_type: str, spec) -> Optional[str]:
        """Why a create here is refused as out of capacity (the model raises it), or None."""
        if (provider, zone, instance_type) in self.stock_outs:
            return f"The {instance_type} instances are out of stock in {zone}."
        if is_spot(spec) and (provider in self.spot_refused or (provider, zone, instance_type) in self.spot_refused):
            return f"No spot capacity for {instance_type} in {zone}."
        return None

    def created(self, made: list) -> None:
        for rule in self.rules:
            for inst in made:
                if rule["spot_only"] and not is_spot(inst):
                    continue
                if self._rng.random() < rule["fraction"]:
                    self._schedule(inst.created_at + rule["after"], inst.provider, inst.instance_id, rule["how"])

    def apply(self, cloud, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            at, _, provider, iid, how, _ = heapq.heappop(self._due)
            if cloud.drop_instance(provider, iid, at, how):
                self.killed.append((at, provider, iid, how))


# ---------------------------------------------------------------- command line
def _triple(text: str) -> tuple:
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected PROVIDER:ZONE:TYPE, got {text!r}")
    return tuple(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("elastic-cluster faults")
    group.add_argument("--stock-out", action="append", type=_triple, default=[], metavar="PROVIDER:ZONE:TYPE",
                       help="creates of this type in this zone answer out-of-stock (repeatable)")
    group.add_argument("--refuse-spot", action="append", default=[], metavar="PROVIDER[:ZONE:TYPE]",
                       help="spot creates answer no capacity, for a provider or one zone/type (repeatable)")
    group.add_argument("--die-after", type=float, metavar="SECONDS",
                       help="machines die this long after creation (see --die-fraction)")
    group.add_argument("--die-fraction", type=float, default=1.0,
                       help="share of machines --die-after and --stop-after apply to")
    group.add_argument("--stop-after", type=float, metavar="SECONDS",
                       help="machines stop this long after creation (see --die-fraction)")
    group.add_argument("--reclaim-spot-after", type=float, metavar="SECONDS",
                       help="spot machines are reclaimed this long after creation")


def apply_arguments(faults: Faults, args) -> None:
    for provider, zone, itype in args.stock_out:
        faults.stock_out(provider, zone, itype)
    for text in args.refuse_spot:
        parts = text.split(":")
        faults.refuse_spot(*parts) if len(parts) == 3 else faults.refuse_spot(parts[0])
    if args.die_after is not None:
        faults.die_after(args.die_after, args.die_fraction)
    if args.stop_after is not None:
        faults.die_after(args.stop_after, args.die_fraction, how="stop")
    if args.reclaim_spot_after is not None:
        faults.die_after(args.reclaim_spot_after, 1.0, spot_only=True, how="reclaim")
