"""`python -m triage_ops.kube_emulator`: serve one emulated cluster until SIGTERM/SIGINT.
Prints the URL on stdout (one line, flushed) once it listens, and writes a kubeconfig
whose context points at it when asked."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from triage_ops.kube_emulator import CONTEXT, NAMESPACE, Emulator, scenario_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triage_ops.kube_emulator")
    parser.add_argument("--scenario", default="healthy", choices=scenario_names())
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--token", help="bearer token to require (default: a random one)")
    parser.add_argument("--kubeconfig-out", type=Path, help="write a kubeconfig here")
    parser.add_argument("--context", default=CONTEXT)
    parser.add_argument("--namespace", default=NAMESPACE)
    args = parser.parse_args(argv)

    emulator = Emulator(args.scenario, host=args.host, port=args.port, token=args.token)
    url = emulator.start()
    if args.kubeconfig_out:
        emulator.write_kubeconfig(
            args.kubeconfig_out, context=args.context, namespace=args.namespace
        )
    print(url, flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
