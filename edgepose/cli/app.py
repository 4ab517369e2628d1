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


INTERRUPTED = "interrupted; run it again to resume"
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point with the exit-code contract (0 ok, 1 gate failed, 2 bad input, 3 bug, 130 Ctrl-C).

    Every failure is one line on stderr; `--debug` adds the traceback and keeps the exit code.
    """
    from edgepose.errors import EdgeposeError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("EDGEPOSE_DEBUG") == "1"
    args = _rewrite_argv([a for a in args if a != "--debug"])
    _quiet_libraries()
    try:
        code = _run_app(args)
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        code = EXIT_INTERRUPTED
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, bad value
        _fail(f"error: {_usage_line(exc)}", 2, debug)
    except EdgeposeError as exc:
        _fail(f"error: {exc}", exc.exit_code, debug)
    except RecursionError:
        _fail("error: the input is nested too deeply to read", 2, debug)
    except Exception as exc:  # a bug in edgepose, not the user's input
        _fail(f"internal error: {type(exc).__name__}: {exc} (re-run with --debug for a traceback)", 3, debug)
    if code == EXIT_INTERRUPTED:
        _fail(INTERRUPTED, EXIT_INTERRUPTED, debug=False)
    sys.exit(code or 0)


def _usage_line(exc: Exception) -> str:
    """A usage error as one line: what is wrong and where to read the options."""
    message = " ".join(exc.format_message().split()) if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None and getattr(ctx, "command_path", None) else ""
    return message + where


def _quiet_libraries() -> None:
    """No library telemetry over the network, and no native log lines before our one line of error."""
    os.environ.setdefault("OPENVINO_TELEMETRY_DISABLE", "1")  # openvino-telemetry (OpenVINO, NNCF)
    os.environ.setdefault("NNCF_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _run_app(args: list[str]) -> int | None:
    """Run the command; with --json, stray stdout writes (libraries' progress bars) go to stderr.

    In non-standalone mode Typer turns Ctrl-C into `Exit(130)` and *returns* an Exit's code, so it is passed on.
    """
    if "--json" not in args:
        result = app(args=args, prog_name="edgepose", standalone_mode=False)
        return result if isinstance(result, int) else None
    import contextlib

    import edgepose.console as output

    output.json_stream = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = app(args=args, prog_name="edgepose", standalone_mode=False)
    finally:
        output.json_stream = None
    return result if isinstance(result, int) else None


def _fail(message: str, code: int, debug: bool = False) -> None:
    if debug:
        import traceback

        traceback.print_exc()
    first = message.strip().splitlines()[0] if message.strip() else message
    print(first, file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
