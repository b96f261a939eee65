"""The ``edgecnn`` command line: thin commands over the Python API.

Every failure edgecnn anticipates is an :class:`~edgecnn.errors.EdgeCNNError`;
the group below prints it on one line (``error: ...``) and exits with its
code (2 for usage errors, 1 otherwise). ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys

import click

from ..core.options import OptionError
from ..core.text import bounded_message
from ..core.versions import __version__
from ..errors import EdgeCNNError


class EdgeCNNGroup(click.Group):
    def invoke(self, ctx: click.Context):
        debug = ctx.params.get("debug", False)
        try:
            return super().invoke(ctx)
        except EdgeCNNError as exc:
            if debug:
                raise
            text = exc.as_flag() if isinstance(exc, OptionError) else str(exc)  # the library names the option
            click.echo(f"error: {bounded_message(text)}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("interrupted: stopped, nothing half-written was left behind", err=True)
            ctx.exit(130)
        except click.exceptions.UsageError as exc:  # a bad flag value: one line too, like every other error
            if debug:
                raise
            where = f"; see 'edgecnn {exc.ctx.info_name} --help'" if exc.ctx is not None and exc.ctx.parent else ""
            click.echo(f"error: {bounded_message(exc.format_message()).rstrip('.')}{where}", err=True)
            ctx.exit(2)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a failure edgecnn did not anticipate: still one line, never a traceback
            if debug:
                raise
            click.echo(f"error: {bounded_message(f'{type(exc).__name__}: {exc}')} (this is a bug in edgecnn or "
                       "a library it uses; 'edgecnn --debug ...' shows the traceback)", err=True)
            ctx.exit(1)


@click.group(cls=EdgeCNNGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgecnn")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def main(debug: bool) -> None:
    """edgecnn: build, export, quantize, profile and ship CNNs for edge devices.

    \b
    Start with:
      edgecnn models 'resnet*'          list architectures
      edgecnn summary mobilenet_v2      per-layer shapes, parameters, mult-adds
      edgecnn train resnet18 --data synthetic:shapes --epochs 2 --img-size 32 -o run/
      edgecnn eval run/best.pt --data DIR
      edgecnn export mobilenet_v2       export to verified, simplified ONNX
      edgecnn run recipes/quickstart.yaml   train, export, quantize, profile, report
    """


def _register_commands() -> None:
    from .build import build_command, check_command
    from .bundle import bundle_command
    from .device import device_group
    from .eval import eval_command
    from .export import export_command
    from .models import models_command
    from .profile import compare_command, profile_command
    from .quantize import quantize_command
    from .run import report_command, run_command
    from .summary import summary_command
    from .train import train_command

    for command in (models_command, summary_command, train_command, eval_command, export_command, quantize_command,
                    check_command, build_command, profile_command, compare_command, run_command, report_command,
                    bundle_command, device_group):
        main.add_command(command)


_register_commands()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
