"""Resolve the broker's jars from Maven Central once into ``.iopnet/kafka/libs``.

A stamp file holding the pom's hash makes later runs skip Maven entirely; a
changed pom triggers a clean re-resolution.
"""

from __future__ import annotations

import hashlib
import shutil

from iopctl import paths
from iopctl.errors import InfraError
from iopctl.proc import run
from iopctl.progress import say

COMPONENT = "kafka"
_STAMP = ".resolved"


def _pom_digest() -> str:
    return hashlib.sha256(paths.KAFKA_POM.read_bytes()).hexdigest()


def cached() -> bool:
    stamp = paths.kafka_libs_dir() / _STAMP
    return stamp.exists() and stamp.read_text().strip() == _pom_digest()


async def ensure_jars() -> None:
    libs = paths.kafka_libs_dir()
    if cached():
        say(COMPONENT, f"jars cached in {libs}")
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError("kafka: `mvn` not found on PATH (install Maven: apt-get install maven)")
    if libs.exists():
        shutil.rmtree(libs)
    libs.mkdir(parents=True)
    say(COMPONENT, "resolving broker jars with Maven (one time)")
    await run(
        [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(paths.KAFKA_POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
        ],
        component=COMPONENT,
        heartbeat="Maven dependency:copy-dependencies",
    )
    jars = sorted(p.name for p in libs.glob("*.jar"))
    if not any(j.startswith("kafka_2.13-") for j in jars):
        raise InfraError(f"kafka: Maven finished but no kafka_2.13 jar in {libs}")
    (libs / _STAMP).write_text(_pom_digest() + "\n")
    say(COMPONENT, f"resolved {len(jars)} jars")
