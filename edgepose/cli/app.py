"""The `edgepose` Typer app: one file per command, errors mapped to exit codes (DESIGN.md).

Exit codes: 0 ok, 1 a gate or check failed, 2 bad input or usage (one line on stderr),
3 an internal error (one line; `--debug` shows the traceback). Command modules import torch and
friends inside their functions so that `edgepose --help` answers fast.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

app = typer.Typer(
    name="edgepose",
    help="Take a trained pose checkpoint to a fast, verified edge artifact, and prove it.\n\n"
    "Example: edgepose zoo   |   edgepose info model.pt --json",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# (command name, "module:function"); each module is imported here, so keep their top level light.
COMMANDS: list[tuple[str, str]] = [
    ("optimize", "edgepose.cli.optimize:optimize_command"),
    ("zoo", "edgepose.cli.zoo:zoo_command"),
    ("info", "edgepose.cli.info:info_command"),
    ("export", "edgepose.cli.export:export_command"),
    ("bench", "edgepose.cli.bench:bench_command"),
    ("bench-compare", "edgepose.cli.bench:bench_compare_command"),
    ("eval", "edgepose.cli.eval:eval_command"),
    ("predict", "edgepose.cli.predict:predict_command"),
    ("train", "edgepose.cli.train:train_command"),
    ("quantize", "edgepose.cli.quantize:quantize_command"),
    ("synth", "edgepose.cli.synth:synth_command"),
    ("prune", "edgepose.cli.prune:prune_command"),
    ("ghost", "edgepose.cli.ghost:ghost_command"),
    ("import-ultralytics", "edgepose.cli.import_:import_ultralytics_command"),
]

for _name, _target in COMMANDS:
    _module, _func = _target.split(":")
    app.command(_name)(getattr(importlib.import_module(_module), _func))


def _print_version(value: bool) -> None:
    if value:
        from edgepose.version import __version__

        print(f"edgepose {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="show tracebacks for errors"),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="print the version and exit"),
) -> None:
    """edgepose: quantize, prune, Ghost-ify, export and benchmark pose models."""


def _rewrite_argv(argv: list[str]) -> list[str]:
    """`edgepose bench compare A B` is the command `bench-compare` (a group cannot also take MODEL);
    `edgepose import ultralytics CKPT` is `import-ultralytics` the same way."""
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] == "compare":
        return ["bench-compare", *argv[2:]]
    if len(argv) >= 2 and argv[0] == "import" and argv[1] == "ultralytics":
        return ["import-ultralytics", *argv[2:]]
    return argv


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point with the exit-code contract."""
    from edgepose.errors import EdgeposeError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("EDGEPOSE_DEBUG") == "1"
    args = _rewrite_argv([a for a in args if a != "--debug"])
    try:
        code = _run_app(args)
        if code == 130:  # typer turns Ctrl-C into Exit(130), which standalone_mode=False returns instead of raising
            raise KeyboardInterrupt
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("aborted", 130)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument
        show = getattr(exc, "show", None)
        show() if show else print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        _fail("interrupted; re-run the same command to resume where it stopped", 130)
    except EdgeposeError as exc:
        if debug:
            raise
        _fail(f"error: {exc}", exc.exit_code)
    except Exception as exc:  # a bug in edgepose, not the user's input
        if debug:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (re-run with --debug for a traceback)", 3)
    sys.exit(0)


def _run_app(args: list[str]) -> object:
    """Run the command (its return value: typer hands back an exit code it caught); with --json, stray stdout
    writes (libraries' progress bars) go to stderr."""
    if "--json" not in args:
        return app(args=args, prog_name="edgepose", standalone_mode=False)
    import contextlib

    import edgepose.console as output

    output.json_stream = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return app(args=args, prog_name="edgepose", standalone_mode=False)
    finally:
        output.json_stream = None


def _fail(message: str, code: int) -> None:
    first = message.strip().splitlines()[0] if message.strip() else message
    print(first, file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
