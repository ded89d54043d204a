#!/usr/bin/python3
"""Interop client for Lanner's Falco-compatible gRPC API, written against our .proto only.

Generates Python stubs from proto/ into a temporary directory with grpc_tools.protoc, then
calls falco.version.service/version and subscribes with falco.outputs.service/sub, printing
one JSON object per line: first {"version": ...}, then one per alert received, and exits
after --count alerts (or fails after --timeout seconds).

Usage:
  python_client.py --proto-dir DIR --target unix:///path.sock [--count N]
  python_client.py --proto-dir DIR --target 127.0.0.1:PORT --ca CA --cert CRT --key KEY
Exit status 3 means grpc/grpc_tools are missing (the caller skips).
"""

import argparse
import importlib
import json
import os
import sys
import tempfile
import threading

try:
    import grpc
    from grpc_tools import protoc
    import grpc_tools
except ImportError as e:  # pragma: no cover - reported to the test runner
    print(f"missing python grpc modules: {e}", file=sys.stderr)
    sys.exit(3)

PROTOS = ["falco/schema.proto", "falco/outputs.proto", "falco/version.proto"]


def generate(proto_dir: str, out_dir: str) -> None:
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = ["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    rc = protoc.main(args + PROTOS)
    if rc != 0:
        raise SystemExit(f"protoc failed with {rc}")
    # Packages for the generated modules (falco/).
    for root, _dirs, _files in os.walk(out_dir):
        init = os.path.join(root, "__init__.py")
        if not os.path.exists(init):
            open(init, "w").close()
    sys.path.insert(0, out_dir)


def channel(opts):
    if opts.ca:
        with open(opts.ca, "rb") as f:
            ca = f.read()
        with open(opts.cert, "rb") as f:
            cert = f.read()
        with open(opts.key, "rb") as f:
            key = f.read()
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        return grpc.secure_channel(opts.target, creds)
    return grpc.insecure_channel(opts.target)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0)
    opts = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="lanner-pystubs-") as out_dir:
        generate(opts.proto_dir, out_dir)
        outputs_pb2 = importlib.import_module("falco.outputs_pb2")
        outputs_grpc = importlib.import_module("falco.outputs_pb2_grpc")
        version_pb2 = importlib.import_module("falco.version_pb2")
        version_grpc = importlib.import_module("falco.version_pb2_grpc")
        schema_pb2 = importlib.import_module("falco.schema_pb2")

        ch = channel(opts)
        v = version_grpc.serviceStub(ch).version(version_pb2.request(), timeout=opts.timeout)
        print(json.dumps({"version": v.version, "major": v.major, "minor": v.minor, "patch": v.patch}), flush=True)

        timer = threading.Timer(opts.timeout, lambda: os._exit(2))
        timer.daemon = True
        timer.start()
        stream = outputs_grpc.serviceStub(ch).sub(iter([outputs_pb2.request()]), metadata=(("session_id", "py-interop"),))
        n = 0
        for r in stream:
            print(
                json.dumps(
                    {
                        "rule": r.rule,
                        "priority": schema_pb2.priority.Name(r.priority),
                        "priority_number": r.priority,
                        "source": r.source,
                        "source_deprecated": r.source_deprecated,
                        "hostname": r.hostname,
                        "output": r.output,
                        "output_fields": dict(r.output_fields),
                        "tags": list(r.tags),
                        "seconds": r.time.seconds,
                        "nanos": r.time.nanos,
                    }
                ),
                flush=True,
            )
            n += 1
            if n >= opts.count:
                stream.cancel()
                break
        ch.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
