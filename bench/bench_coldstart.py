"""Deployment package size and cold start, measured on the package `replydesk package` builds; asserts nothing.

1. Package: `replydesk package --campaign demo --stage dev`, unzipped size without the SDK (the Lambda
   runtime provides boto3/botocore; `--bundle-sdk` adds them) next to the 25 MB target, the largest
   entries, and whether anything the run time must not carry slipped in (numpy, cryptography,
   scikit-learn, local/, cli/).
2. Cold start: fresh processes run from the *unzipped package* (plus the SDK, as the runtime has it),
   with the stage's environment, and time (median of 5):
   - processing function: `import app`, the processing path's first use (its runtime and clients, the
     idempotency layer) and every model loaded (`pipeline.get_runtime()` warms the classifier);
   - staff API function: `import app`, the runtime and the token verifier.
   Lambda's /var/task is read-only, so a real cold start has only the bytecode the zip carries
   (`replydesk package` adds it for what a cold start imports): the "as packaged" column
   (PYTHONDONTWRITEBYTECODE) is the honest one; "all bytecode cached" is the floor. The script also says
   whether what `replydesk package` adds for the cold start is in use: the cut botocore data (S3 model,
   endpoints; cli/package_models.py) and the campaign's JSON copy (so PyYAML is not imported). The last
   step of 3 (PynamoDB's own DynamoDB client) is not in either cold start: the first contact pays it.
3. Where the time goes: CPU time of each step of both cold starts in one process (import app, the
   settings and campaign, the botocore session, each client the runtime makes, the verifier, the
   models), median of the runs, from the package with its bytecode cached.
4. `python -X importtime -c 'import app'` from the package, grouped by top-level package (cached bytecode).

    .venv/bin/python bench/bench_coldstart.py [--runs 5]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PYTHON = ROOT / ".venv" / "bin" / "python"
OUT = ROOT / "build" / "bench-coldstart"
TARGET_PACKAGE_MB = 25.0
TARGET_PROCESSING_MS = 250.0
TARGET_STAFF_MS = 150.0
SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
MUST_NOT_SHIP = ("numpy", "numpy.libs", "cryptography", "sklearn", "scipy", "local", "cli")

PROCESSING = """
import time; t0 = time.perf_counter()
import app
t1 = time.perf_counter()
app.intake_path().intake_record_handler()  # what the intake function's first batch does
from chalicelib import pipeline
pipeline.get_runtime()
t2 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.1f} {(t2 - t0) * 1000:.1f}")
"""
STAFF = """
import time; t0 = time.perf_counter()
import app
t1 = time.perf_counter()
from chalicelib import auth, runtime
runtime.get_runtime()
auth.get_verifier()
t2 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.1f} {(t2 - t0) * 1000:.1f}")
"""


def stage_env() -> dict[str, str]:
    """The functions' environment from the merged template, with made-up physical names (nothing is called)."""
    from chalicelib.config import load_campaign
    from cli.template import merge_template

    region = "us-east-1"
    variables = merge_template(load_campaign("demo"), "dev")["Globals"]["Function"]["Environment"]["Variables"]
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": "replydesk-bench",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    for name, value in variables.items():
        if isinstance(value, str):
            env[name] = value
        elif name == "REPLYDESK_CAMPAIGN":
            env[name] = "demo"
        elif name == "REPLYDESK_STAGE":
            env[name] = "dev"
        elif (name.endswith("_URL") and "QUEUE" in name) or name.endswith("DLQ_URL"):
            env[name] = f"https://sqs.{region}.amazonaws.com/000000000000/bench-{name.lower()}"
        elif name.endswith("_ARN"):
            kind = "stateMachine" if "STATE_MACHINE" in name else "topic"
            service = "states" if kind == "stateMachine" else "sns"
            sep = ":stateMachine:" if kind == "stateMachine" else ":"
            env[name] = f"arn:aws:{service}:{region}:000000000000{sep}bench-{name.lower()}"
        elif name == "CSAT_SECRET":
            env[name] = "0" * 64
        elif name == "PUBLIC_URL":
            env[name] = "https://bench.example"
        elif name == "COGNITO_USER_POOL_ID":
            env[name] = f"{region}_Bench1"
        elif name == "COGNITO_ISSUER":
            env[name] = f"https://cognito-idp.{region}.amazonaws.com/{region}_Bench1"
        elif name == "COGNITO_JWKS_URL":
            env[name] = f"https://cognito-idp.{region}.amazonaws.com/{region}_Bench1/.well-known/jwks.json"
        else:
            env[name] = f"bench-{name.lower().replace('_', '-')}"
    return env


def build_package() -> Path | None:
    proc = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "replydesk"),
            "package",
            "--campaign",
            "demo",
            "--stage",
            "dev",
            "--out",
            str(OUT),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    path = OUT / "package" / "deployment.zip"
    if proc.returncode != 0 or not path.exists():
        print(f"  replydesk package failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        return None
    return path


def package_figures(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    by_top: collections.Counter[str] = collections.Counter()
    for info in infos:
        by_top[info.filename.split("/", 1)[0]] += info.file_size
    unzipped = sum(by_top.values()) / 1e6
    sdk = sum(size for name, size in by_top.items() if name.split("-")[0] in {s.removesuffix(".py") for s in SDK})
    print(
        f"  unzipped, without the SDK    {(unzipped - sdk / 1e6):6.1f} MB   (target <= {TARGET_PACKAGE_MB:g} MB; "
        f"zipped {path.stat().st_size / 1e6:.1f} MB, {len(infos)} files; SDK in the zip: {sdk / 1e6:.1f} MB; "
        f"bytecode {sum(i.file_size for i in infos if i.filename.endswith('.pyc')) / 1e6:.1f} MB)"
    )
    for name, size in by_top.most_common(8):
        print(f"      {name:<34} {size / 1e6:6.2f} MB")
    shipped = sorted({n for n in by_top if n in MUST_NOT_SHIP or n.split("-")[0] in MUST_NOT_SHIP})
    print(f"  must not ship (numpy, cryptography, sklearn, local/, cli/): {', '.join(shipped) or 'none found'}")


def unpack(path: Path, into: Path) -> tuple[Path, Path]:
    """The package unzipped into `into`/task, and a directory standing for the runtime's SDK (venv links)."""
    pkg, sdk = into / "task", into / "runtime"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(pkg)
    sdk.mkdir()
    import botocore

    site = Path(botocore.__file__).resolve().parents[1]
    for name in SDK:
        if (site / name).exists():
            (sdk / name).symlink_to(site / name)
    return pkg, sdk


def run(code: str, pkg: Path, sdk: Path, env: dict[str, str], *, cached: bool) -> tuple[float, float, float]:
    """(import app ms, whole cold start ms, the process's CPU ms incl. interpreter start-up)."""
    # -S: no site-packages, so only the package, the runtime's SDK and the standard library are importable.
    prelude = f"import sys; sys.path[:0] = [{str(pkg)!r}, {str(sdk)!r}]\n"
    # As packaged: nothing is written next to the code (Lambda's /var/task is read-only), so what the
    # zip carries is all the bytecode there is. Cached: every module's bytecode from an earlier run.
    extra = {} if cached else {"PYTHONDONTWRITEBYTECODE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [str(PYTHON), "-S", "-c", prelude + code],
        cwd=pkg,
        env={"PATH": os.environ.get("PATH", ""), **env, **extra},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-800:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    first, total = proc.stdout.split()[-2:]
    return float(first), float(total), cpu


def cold_starts(path: Path, tmp: Path, env: dict[str, str], runs: int) -> tuple[Path, Path]:
    packaged = unpack(path, tmp / "packaged")
    cached = unpack(path, tmp / "cached")
    for label, code, target in (
        ("processing function", PROCESSING, TARGET_PROCESSING_MS),
        ("staff API function", STAFF, TARGET_STAFF_MS),
    ):
        figures = {}
        for is_cached, (pkg, sdk) in ((False, packaged), (True, cached)):
            run(code, pkg, sdk, env, cached=is_cached)  # warm the page cache (and, cached, write the .pyc)
            samples = [run(code, pkg, sdk, env, cached=is_cached) for _ in range(runs)]
            figures[is_cached] = tuple(statistics.median(s[i] for s in samples) for i in range(3))
        (imp, total, cpu), (_, total_c, cpu_c) = figures[False], figures[True]
        # CPU time moves less than wall time with the machine's load (it still counts start-up).
        print(
            f"  {label:<21} {total:6.0f} ms as packaged (import app {imp:.0f} ms, CPU {cpu:.0f} ms) | "
            f"{total_c:6.0f} ms all bytecode cached (CPU {cpu_c:.0f} ms)   target <= {target:g} ms; median of {runs}"
        )
    return cached


PHASES = """
import time
T = time.process_time
marks = [("start", T())]
import app
marks.append(("import app", T()))
from chalicelib import aws, config
config.get_settings(); config.get_campaign(); marks.append(("settings and campaign file", T()))
aws._session(); marks.append(("botocore session", T()))
for n in ("s3", "ses", "sns", "stepfunctions", "dynamodb"):
    getattr(aws, n)(); marks.append((n + " client", T()))
from chalicelib import auth, runtime
runtime.get_runtime(); marks.append(("rest of the runtime (template store)", T()))
auth.get_verifier(); marks.append(("token verifier (staff API only)", T()))
app.intake_path().intake_record_handler()
from chalicelib import pipeline
pipeline.get_runtime()
marks.append(("models and intake handler (processing only)", T()))
# Outside both cold-start figures, paid by the first contact or request: PynamoDB's own DynamoDB client
# (the models share one connection, chalicelib/models.py), made on the first use of any table.
from chalicelib import models
for model in (models.CustomerModel, models.ConversationModel, models.MessageModel, models.OutboxModel):
    model._get_connection().connection.client
marks.append(("PynamoDB's client, 4 tables' first use (1st contact)", T()))
# What replydesk package added for the cold start, in use (not only shipped): the cut botocore data, campaign JSON.
campaign_json = (config.CAMPAIGN_DIR / (config.get_settings().campaign + ".json")).is_file()
print(f"in use: cut botocore data {aws.trimmed_models_path() is not None}, campaign JSON {campaign_json}, "
      f"PyYAML imported {'yaml' in sys.modules}")
print(";".join(f"{a}={(t - marks[i][1]) * 1000:.2f}" for i, (a, t) in enumerate(marks[1:])))
"""


def phases(pkg: Path, sdk: Path, env: dict[str, str], runs: int) -> None:
    """CPU ms of each cold-start step in one fresh process (median of `runs`): what dominates."""
    prelude = f"import sys; sys.path[:0] = [{str(pkg)!r}, {str(sdk)!r}]\n"
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        proc = subprocess.run(
            [str(PYTHON), "-S", "-c", prelude + PHASES],
            cwd=pkg,
            env={"PATH": os.environ.get("PATH", ""), **env},
            capture_output=True,
            text=True,
            check=True,
        )
        lines = proc.stdout.strip().splitlines()
        pairs = (kv.split("=") for kv in lines[-1].split(";"))
        samples.append({k: float(v) for k, v in pairs})
    print(f"  {lines[-2]}")
    print(f"  where the CPU time goes (one process, bytecode cached, median of {runs}):")
    for step in samples[0]:
        print(f"      {step:<44} {statistics.median(s[step] for s in samples):6.1f} ms")


def import_breakdown(pkg: Path, sdk: Path, env: dict[str, str]) -> None:
    prelude = f"import sys; sys.path[:0] = [{str(pkg)!r}, {str(sdk)!r}]\n"
    proc = subprocess.run(
        [str(PYTHON), "-S", "-X", "importtime", "-c", prelude + "import app"],
        cwd=pkg,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    by_top: collections.Counter[str] = collections.Counter()
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            by_top[m.group(4).split(".")[0]] += int(m.group(1))  # self time, so nothing counts twice
    total = sum(by_top.values()) / 1000
    print(f"  import app: {total:.0f} ms of module execution (self times), by top-level package:")
    for name, micros in by_top.most_common(10):
        print(f"      {name:<28} {micros / 1000:6.1f} ms")


def main(runs: int) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    # The machine is shared: a load above the core count stretches every wall-clock figure below.
    print(f"cores: {os.cpu_count()}, load average {load}, Python {sys.version.split()[0]}")
    print("Deployment package (replydesk package --campaign demo --stage dev)")
    path = build_package()
    if path is None:
        return
    package_figures(path)
    env = stage_env()
    with tempfile.TemporaryDirectory() as tmp:
        print("Cold start from the unzipped package (python -S: the package, the runtime's SDK, the stdlib)")
        pkg, sdk = cold_starts(path, Path(tmp), env, runs)
        phases(pkg, sdk, env, runs)
        import_breakdown(pkg, sdk, env)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
