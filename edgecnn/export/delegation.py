"""Which operators of a mobile artifact the XNNPACK delegate runs, and which fall back to the runtime's own
(reference or portable) kernels: the usual reason a model is slow on a phone or a board.

ExecuTorch says it at export time (``get_delegation_info`` on the lowered program, kept in the ``.pte``'s sidecar);
LiteRT says it when the interpreter has applied its delegate (each XNNPACK partition becomes a ``DELEGATE`` node
whose inputs and outputs bound the operators it took). Both end up as one :class:`DelegationReport`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# graph bookkeeping, not work: ExecuTorch lists the getitem that unpacks a delegate's outputs as not delegated
BOOKKEEPING_OPS = frozenset({"getitem", "output", "placeholder"})


@dataclass
class OpDelegation:
    op: str
    delegated: int
    fallback: int


@dataclass
class DelegationReport:
    backend: str  # "XNNPACK"
    partitions: int  # delegated subgraphs
    ops: list[OpDelegation] = field(default_factory=list)
    source: str = ""  # how it was found, in words

    @property
    def delegated(self) -> int:
        return sum(o.delegated for o in self.ops)

    @property
    def fallback(self) -> int:
        return sum(o.fallback for o in self.ops)

    @property
    def fallback_ops(self) -> list[str]:
        return [o.op for o in self.ops if o.fallback]

    @property
    def fully_delegated(self) -> bool:
        return self.partitions > 0 and not self.fallback

    def to_dict(self) -> dict:
        return {**asdict(self), "delegated": self.delegated, "fallback": self.fallback,
                "fallback_ops": self.fallback_ops}

    @classmethod
    def from_dict(cls, data: dict) -> "DelegationReport":
        return cls(backend=data["backend"], partitions=int(data["partitions"]),
                   ops=[OpDelegation(o["op"], int(o["delegated"]), int(o["fallback"])) for o in data.get("ops", [])],
                   source=data.get("source", ""))

    def summary(self) -> str:
        """One line: the report's line and ``edgecnn check``'s verdict."""
        total = self.delegated + self.fallback
        if self.fully_delegated:
            return f"{self.backend} runs all {total} operators ({self.partitions} partition(s))"
        if not self.partitions:
            return f"{self.backend} took nothing: all {total} operators run on the runtime's own kernels"
        shown = ", ".join(self.fallback_ops[:6]) + (" ..." if len(self.fallback_ops) > 6 else "")
        return (f"{self.backend} runs {self.delegated} of {total} operators ({self.partitions} partitions); "
                f"{self.fallback} fall back: {shown}")

    def lines(self) -> list[str]:
        rows = [f"{'operator':<44} {'delegated':>9} {'fallback':>8}"]
        rows += [f"{o.op:<44} {o.delegated:>9} {o.fallback:>8}" for o in sorted(self.ops, key=lambda o: -o.fallback)]
        return rows + [self.summary()] + ([f"(from {self.source})"] if self.source else [])


def from_counts(backend: str, partitions: int, counts: dict[str, tuple[int, int]], source: str) -> DelegationReport:
    """A report from ``{op: (delegated, fallback)}``, graph bookkeeping left out."""
    ops = [OpDelegation(op, d, f) for op, (d, f) in sorted(counts.items()) if op not in BOOKKEEPING_OPS and (d or f)]
    return DelegationReport(backend=backend, partitions=partitions, ops=ops, source=source)


__all__ = ["DelegationReport", "OpDelegation", "from_counts"]
