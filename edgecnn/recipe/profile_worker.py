"""One profiling stage of ``edgecnn run``, in a process of its own.

Two runtimes in one process disturb each other (ONNX Runtime's spinning worker
threads, OpenVINO's thread pool, torch's intra-op pool), so ``edgecnn run``
profiles each engine x precision here, in a fresh interpreter:

    python -m edgecnn.recipe.profile_worker '{"artifact": ..., "output": ...}'

Writes the ProfileResult JSON to ``output``; on an anticipated failure prints one
line to stderr and exits with code 3 (engine or library unavailable) or 1.
"""

from __future__ import annotations

import json
import sys

from ..errors import DependencyMissing, EdgeCNNError, EngineUnavailable
from ..profile.run import ProfileSettings, profile
from ..tasks.registry import task_of

UNAVAILABLE_EXIT = 3


def run(args: dict) -> None:
    settings = ProfileSettings(batches=tuple(args["batches"]), threads=args.get("threads"),
                               warmup_s=args["warmup_s"], min_runs=args["min_runs"], min_time_s=args["min_time_s"],
                               scenarios=args.get("scenarios", ["single-stream"]), streams=args.get("streams", ["auto"]))
    images = None
    val = args.get("val")
    if val:  # the validation side the model's task's training held out
        images = task_of(val.get("task")).function("held_out")(
            val["source"], val=val.get("val"), val_split=val["val_split"], resize=val["image_size"],
            side=val.get("input_side"), seed=val["seed"])
    result = profile(args["artifact"], args["engine"], precision=args["precision"], settings=settings, data=images)
    result.write_json(args["output"])


def main(argv: list[str]) -> int:
    try:
        run(json.loads(argv[0]))
    except (DependencyMissing, EngineUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNAVAILABLE_EXIT
    except EdgeCNNError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
