"""Builds the Lambda packages: <out>/image_processor.zip, <out>/db_writer.zip and <out>/build-info.json.

Run it through ./build.sh; docs/build.md explains the options. Standard library only, so it
runs on any Python >= 3.11 without the project's virtualenv.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import Distribution, distributions
from pathlib import Path

from build_zip import merge, tree_files, write_zip

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("image_processor", "db_writer")
SHARED_PACKAGES = ("pipeline_common",)
PYTHON_VERSIONS = ("3.12", "3.13")
# Lambda still offers these runtimes, so they are refused with the reason, not as unknown versions.
RETIRED_PYTHON = {
    "3.11": "python3.11 runs on Amazon Linux 2 (glibc 2.26), which cannot load Pillow 13's manylinux_2_28 wheels, "
    "and Terraform's lambda_runtime accepts python3.12 and python3.13 only",
}
DEFAULT_PYTHON = "3.13"
DEFAULT_ARCH = "arm64"
# The Lambda runtime images, pinned by the digest of their multi-platform index so a rebuilt tag cannot change
# what pip runs in. Refresh them (docs/build.md) with:
#   docker buildx imagetools inspect public.ecr.aws/lambda/python:3.13 --format '{{json .Manifest.Digest}}'
LAMBDA_IMAGES = {
    "3.12": "public.ecr.aws/lambda/python:3.12@sha256:0628ddc11919f85f4261517d356392dbbc6b3181568d87a376ae2e814464c230",
    "3.13": "public.ecr.aws/lambda/python:3.13@sha256:e29b87b66ee86899ac3f1e7ae19f7d761ac4504d58432810f917531f9b92687f",
}
# Each function's requirements.txt (what we ask for) is locked, with every file's sha256, in requirements.lock
# by scripts/lock.sh; the build installs the lock only, and pip refuses a file whose hash is not in it.
LOCK_FILE = "requirements.lock"
LOCK_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


@dataclass(frozen=True)
class Architecture:
    wheel_suffix: str  # platform tags end in this, e.g. manylinux_2_28_aarch64
    docker_platform: str
    elf_machine: int  # e_machine in the ELF header


ARCHITECTURES = {
    "arm64": Architecture("aarch64", "linux/arm64", 183),
    "x86_64": Architecture("x86_64", "linux/amd64", 62),
}
ELF_MACHINE_NAMES = {183: "arm64 (aarch64)", 62: "x86_64", 3: "x86 (32-bit)", 40: "arm (32-bit)"}

# Both Python versions run on it; pip's platform tags below are the wheels its glibc can load.
LAMBDA_OS = "Amazon Linux 2023 (glibc 2.34)"
# The Lambda Python runtime provides the AWS SDK; a bundled copy only adds megabytes and shadows the
# runtime's patched version. Dropped even when a requirement pulls it in, together with whatever only
# the SDK needs (jmespath, urllib3, python-dateutil, six): the runtime brings its own copies of those too.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# pip writes these per install: RECORD lists local paths and hashes of files we drop, INSTALLER/REQUESTED
# and direct_url.json describe how pip was called. None is read at run time; all vary between pips.
INSTALL_RECORD_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
# Pillow's text drawing (ImageFont: FreeType, HarfBuzz and what only they link) and its Tk bridge: a thumbnailer
# uses neither, and they are 3 MB of the package. tests/build opens every accepted format from the built zip.
UNUSED_PILLOW_PARTS = re.compile(
    r"PIL/_imaging(ft|tk)\.|pillow\.libs/lib(freetype|harfbuzz|brotlicommon|brotlidec|png16)-[0-9a-f]+\.so"
)
PIP_NO_WHEEL = re.compile(r"No matching distribution found for (\S+)")
PIP_HASH_MISMATCH = re.compile(r"DO NOT MATCH THE HASHES")
EXTENSION_PYTHON_TAG = re.compile(r"\.cpython-(\d)(\d+)-")


class BuildError(Exception):
    """A problem the user can fix; printed without a traceback."""


@dataclass(frozen=True)
class Target:
    python: str  # "3.13"
    arch: str  # "arm64" | "x86_64"

    @property
    def runtime(self) -> str:
        return f"python{self.python}"

    @property
    def pip_platforms(self) -> list[str]:
        # Pillow's current releases ship manylinux_2_28 wheels only; a lone manylinux2014 tag would
        # silently pick an old Pillow.
        suffix = ARCHITECTURES[self.arch].wheel_suffix
        return [f"manylinux_2_28_{suffix}", f"manylinux2014_{suffix}"]


@dataclass(frozen=True)
class Options:
    target: Target
    docker: str  # "auto" | "docker" | "pip"
    out: Path
    cache: Path
    image: str


def python_version(value: str) -> str:
    version = value.removeprefix("python")
    if version in RETIRED_PYTHON:
        raise argparse.ArgumentTypeError(
            f"Python {version} is not supported: {RETIRED_PYTHON[version]}; choose one of {', '.join(PYTHON_VERSIONS)}"
        )
    if version not in PYTHON_VERSIONS:
        raise argparse.ArgumentTypeError(
            f"unsupported Python version {value!r}; choose one of {', '.join(PYTHON_VERSIONS)}"
        )
    return version


def architecture(value: str) -> str:
    if value not in ARCHITECTURES:
        raise argparse.ArgumentTypeError(
            f"unsupported architecture {value!r}; choose one of {', '.join(ARCHITECTURES)} (Lambda's names)"
        )
    return value


def parse_options(argv: list[str], env: dict[str, str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="build.sh",
        description="Build the Lambda zips and build-info.json for the target runtime and architecture.",
        epilog="Environment: BUILD_CACHE_DIR is pip's cache (default .cache/pip); BUILD_IMAGE replaces the "
        "Docker image (default: the Lambda image of the --python version, pinned by digest in scripts/build.py).",
    )
    parser.add_argument(
        "--arch",
        type=architecture,
        default=DEFAULT_ARCH,
        metavar="{arm64,x86_64}",
        help=f"Lambda architecture: arm64 or x86_64 (default {DEFAULT_ARCH}, as in Terraform)",
    )
    parser.add_argument(
        "--python",
        type=python_version,
        default=DEFAULT_PYTHON,
        metavar="{" + ",".join(PYTHON_VERSIONS) + "}",
        help=f"Lambda Python version: {', '.join(PYTHON_VERSIONS)} (default {DEFAULT_PYTHON}, as in Terraform)",
    )
    path = parser.add_mutually_exclusive_group()
    parser.set_defaults(docker="auto")
    path.add_argument(
        "--docker",
        dest="docker",
        action="store_const",
        const="docker",
        help="install dependencies inside the Lambda image; fail if no Docker engine answers",
    )
    path.add_argument(
        "--no-docker",
        dest="docker",
        action="store_const",
        const="pip",
        help="install dependencies with the host's pip for the target platform, even if Docker runs",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default dist/, the one Terraform reads)"
    )
    args = parser.parse_args(argv)
    return Options(
        target=Target(python=args.python, arch=args.arch),
        docker=args.docker,
        out=(args.out or ROOT / "dist").resolve(),
        cache=Path(env.get("BUILD_CACHE_DIR", ROOT / ".cache" / "pip")).resolve(),
        image=env.get("BUILD_IMAGE", LAMBDA_IMAGES[args.python]),
    )


def docker_engine() -> tuple[bool, str]:
    """Whether a Docker engine answers, and a short reason to print either way."""
    if shutil.which("docker") is None:
        return False, "no docker command on PATH"
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return False, "`docker info` did not answer within 60 s"
    version = result.stdout.strip()
    if result.returncode != 0 or not version:
        detail = (result.stderr.strip().splitlines() or ["no output"])[0]
        return False, f"no Docker engine answered `docker info` ({detail})"
    return True, f"Docker engine {version} answered `docker info`"


def choose_path(mode: str) -> tuple[str, str]:
    """Returns ("docker" | "pip", why)."""
    if mode == "pip":
        return "pip", "--no-docker was given"
    answers, why = docker_engine()
    if mode == "docker" and not answers:
        raise BuildError(f"--docker was given but {why}; start Docker or use --no-docker")
    return ("docker", why) if answers else ("pip", why)


def requirement_lines(requirements: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return [line for line in lines if line]


def checked_lock(function: str, requirements: Path) -> Path:
    """The function's lock, once it pins every requirement at the version requirements.txt asks for."""
    lock = requirements.with_name(LOCK_FILE)
    if not lock.is_file():
        raise BuildError(f"{function}: {lock.relative_to(ROOT)} is missing: run scripts/lock.sh")
    locked = {canonical_name(name): version for name, version in LOCK_PIN.findall(lock.read_text())}
    for line in requirement_lines(requirements):
        name, _, version = line.partition("==")
        if locked.get(canonical_name(name)) != version:
            raise BuildError(
                f"{function}: {lock.relative_to(ROOT)} does not lock {line} from {requirements.relative_to(ROOT)} "
                f"(it has {locked.get(canonical_name(name), 'nothing')}): run scripts/lock.sh"
            )
    return lock


def pip_install(cache: str, site: str, requirements: str) -> list[str]:
    """pip's arguments on both paths. Wheels only: a package compiled here from its sdist would differ between
    the paths, and its compiler errors would hide which package lacks a wheel. Hashes required: every file
    must be one the lock names, so a changed wheel (on the index, a mirror or in the cache) fails the build."""
    command = ["-m", "pip", "install", "--no-compile", "--disable-pip-version-check", "--no-warn-script-location"]
    command += ["--cache-dir", cache, "--target", site, "--only-binary=:all:", "--require-hashes"]
    return [*command, "-r", requirements]


def pip_command(target: Target, requirements: Path, site: Path, cache: Path) -> list[str]:
    platforms = [arg for tag in target.pip_platforms for arg in ("--platform", tag)]
    python = ["--implementation", "cp", "--python-version", target.python]
    return [sys.executable, *pip_install(str(cache), str(site), str(requirements)), *platforms, *python]


def docker_run(options: Options, volumes: dict[Path, str]) -> list[str]:
    """`docker run` of python3 in the Lambda image with these host paths mounted; the caller appends its arguments.

    The image is the Lambda runtime itself, so pip picks exactly what runs there. Running as the calling
    user keeps the files written removable without root.
    """
    command = ["docker", "run", "--rm", "--platform", ARCHITECTURES[options.target.arch].docker_platform]
    command += ["--user", f"{os.getuid()}:{os.getgid()}", "--env", "HOME=/tmp", "--entrypoint", "python3"]
    for host, inside in volumes.items():
        command += ["--volume", f"{host}:{inside}"]
    return [*command, options.image]


def docker_command(options: Options, requirements: Path, site: Path) -> list[str]:
    volumes = {requirements: "/build/requirements.txt:ro", site: "/build/site", options.cache: "/build/pip-cache"}
    return [*docker_run(options, volumes), *pip_install("/build/pip-cache", "/build/site", "/build/requirements.txt")]


def install(options: Options, path: str, function: str, requirements: Path, site: Path) -> None:
    if path == "docker":
        where = f"inside {options.image} ({ARCHITECTURES[options.target.arch].docker_platform})"
    else:
        tags = " / ".join(options.target.pip_platforms)
        where = f"with pip for {tags}, cp{options.target.python.replace('.', '')}, wheels only"
    print(f"    installing {' '.join(requirement_lines(requirements))} {where}, from {LOCK_FILE}", flush=True)
    lock = checked_lock(function, requirements)
    command = (
        docker_command(options, lock, site)
        if path == "docker"
        else pip_command(options.target, lock, site, options.cache)
    )
    options.cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PIP_ROOT_USER_ACTION": "ignore"}
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if result.returncode == 0:
        return
    print(result.stdout, file=sys.stderr)
    if PIP_HASH_MISMATCH.search(result.stdout):
        raise BuildError(
            f"{function}: a file pip downloaded is not the one {lock.relative_to(ROOT)} locks (its sha256 differs, "
            "pip's output above names it): a tampered or re-published package, or a corrupt cache. Nothing was built."
        )
    missing = PIP_NO_WHEEL.search(result.stdout)
    if missing:
        target = options.target
        suffix = ARCHITECTURES[target.arch].wheel_suffix
        if path == "docker":
            needs = f"a manylinux wheel for {suffix} (pip in {options.image} found none)"
        else:
            needs = f"a {' or '.join(target.pip_platforms)} wheel"
        raise BuildError(
            f"{function}: no wheel of {missing.group(1)} for {target.runtime} on {target.arch}: "
            f"{target.runtime} runs on {LAMBDA_OS}, which needs {needs}. The build never compiles from source "
            "and never uses a wheel built for this machine: pin a version that ships such a wheel."
        )
    raise BuildError(f"{function}: installing {lock.relative_to(ROOT)} failed (pip's output above)")


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(distribution: Distribution) -> set[str]:
    """Canonical names of what the distribution's Requires-Dist lines ask for."""
    names = (REQUIREMENT_NAME.match(line) for line in distribution.requires or [])
    return {canonical_name(name[0]) for name in names if name}


def record_paths(distribution: Distribution) -> set[str]:
    if distribution.files is None:
        raise BuildError(f"{distribution.metadata['Name']} has no RECORD, so its files cannot be told apart")
    # '/'-separated paths relative to the install folder, as in the archive, and the .dist-info folder
    # whole, whether or not RECORD lists each file in it.
    folders = {path.parts[0] for path in distribution.files if path.parts[0].endswith(".dist-info")}
    return {path.as_posix() for path in distribution.files} | folders


def needed_without_sdk(installed: dict[str, Distribution]) -> set[str]:
    """The distributions requirements.txt reaches without passing through the runtime's SDK.

    Environment markers and extras are ignored, so a dependency under a marker counts as needed: the
    error can only be to keep a package, never to drop one that our requirements import.
    """
    needed: set[str] = set()
    # pip writes REQUESTED only for the distributions requirements.txt names.
    todo = [name for name, distribution in installed.items() if distribution.read_text("REQUESTED") is not None]
    if installed and not todo:
        raise BuildError(
            "pip wrote no REQUESTED file, so the packages requirements.txt names cannot be told from those the "
            "AWS SDK pulled in: use a newer pip (for the Docker path, a newer BUILD_IMAGE)"
        )
    while todo:
        name = todo.pop()
        if name in needed or name in RUNTIME_PROVIDED or name not in installed:
            continue
        needed.add(name)
        todo += requirement_names(installed[name])
    return needed


def dependency_files(site: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Archive entries and {distribution: version} of what pip installed, minus the runtime's own SDK."""
    found = {
        canonical_name(distribution.metadata["Name"]): distribution for distribution in distributions(path=[str(site)])
    }
    installed = dict(sorted(found.items()))
    needed = needed_without_sdk(installed)
    versions: dict[str, str] = {}
    dropped: set[str] = set()
    for name, distribution in installed.items():
        if name in needed:
            versions[name] = distribution.version
            continue
        sdk = name in RUNTIME_PROVIDED
        why = "the Lambda runtime provides it" if sdk else "only the AWS SDK needs it, and the runtime has its own"
        print(f"    leaving out {name} {distribution.version}: {why}")
        dropped |= record_paths(distribution)
    files = {
        name: path
        for name, path in tree_files(site).items()
        if name.split("/", 1)[0] not in dropped
        and name not in dropped
        and not name.startswith("bin/")  # console scripts carry the host's interpreter path
        and not UNUSED_PILLOW_PARTS.match(name)
        and not (".dist-info/" in name and name.rsplit("/", 1)[1] in INSTALL_RECORD_FILES)
    }
    return files, dict(sorted(versions.items()))


def check_binaries(files: dict[str, Path], target: Target) -> None:
    """Fails when a compiled file is for another CPU or Python: a host wheel must never ship."""
    expected = ARCHITECTURES[target.arch].elf_machine
    major, minor = target.python.split(".")
    for name, path in files.items():
        with path.open("rb") as f:
            header = f.read(20)
        if header[:4] == b"\x7fELF":
            machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
            if machine != expected:
                found = ELF_MACHINE_NAMES.get(machine, f"ELF machine {machine}")
                raise BuildError(f"{name} is compiled for {found}, not {target.arch}")
        tag = EXTENSION_PYTHON_TAG.search(name)
        if tag and tag.groups() != (major, minor):
            raise BuildError(f"{name} is compiled for Python {tag[1]}.{tag[2]}, not {target.python}")


def source_files(function: str) -> dict[str, Path]:
    package = ROOT / function
    if not (package / "handler.py").is_file():
        raise BuildError(f"{function}/handler.py is missing: the Lambda handler is {function}.handler")
    code = tree_files(package, f"{function}/")
    for build_input in ("requirements.txt", LOCK_FILE):  # build inputs, not run-time code
        code.pop(f"{function}/{build_input}", None)
    for shared in SHARED_PACKAGES:
        if not (ROOT / shared / "__init__.py").is_file():
            raise BuildError(f"{shared}/__init__.py is missing; every zip ships {shared}/")
        code = merge(code, tree_files(ROOT / shared, f"{shared}/"))
    return code


@dataclass(frozen=True)
class BytecodeCompiler:
    python: str | None  # a host interpreter of the target's version; None: the Lambda image's, through Docker
    where: str

    def command(self, options: Options, tree: Path) -> list[str]:
        inside = str(tree) if self.python else "/build/tree"
        python = [self.python] if self.python else docker_run(options, {tree: inside})
        # unchecked-hash: the zip's files never change, so the runtime need not compare them with the source;
        # with paths written as /var/task/..., the bytes do not depend on where the build ran.
        compile_options = ["-q", "--invalidation-mode", "unchecked-hash", "-s", inside, "-p", "/var/task"]
        return [*python, "-m", "compileall", *compile_options, inside]


def bytecode_compiler(options: Options, path: str) -> BytecodeCompiler | None:
    """The Python that compiles the zip's bytecode: the Lambda image's own on the Docker path; else a host
    interpreter of the target's version (bytecode depends on the Python version only, not on the CPU), or None."""
    version = options.target.python
    if path == "docker":
        return BytecodeCompiler(None, f"Python {version} in {options.image}")
    for python in dict.fromkeys([sys.executable, f"python{version}"]):
        if version_of(python) == version:
            return BytecodeCompiler(python, f"Python {version} at {shutil.which(python) or python}")
    return None


def version_of(python: str) -> str | None:
    """The interpreter's "major.minor", e.g. "3.13"; None for a command that does not run."""
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def compile_bytecode(
    options: Options, compiler: BytecodeCompiler, files: dict[str, Path], tree: Path
) -> dict[str, Path]:
    """Each module's __pycache__ entry, for the archive. /var/task is read-only, so the runtime can never cache
    what it compiles: without these, every cold start compiles every module it imports from source."""
    for name, source in files.items():
        if name.endswith(".py"):
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tree / name)
    command = compiler.command(options, tree)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        print(result.stdout, file=sys.stderr)
        raise BuildError(f"compiling the bytecode with {compiler.where} failed (its output above)")
    return {path.relative_to(tree).as_posix(): path for path in sorted(tree.rglob("__pycache__/*.pyc"))}


def build_function(
    options: Options, path: str, compiler: BytecodeCompiler | None, function: str, staging: Path
) -> dict:
    print(f"==> {function}", flush=True)
    requirements = ROOT / function / "requirements.txt"
    code = source_files(function)
    dependencies: dict[str, Path] = {}
    versions: dict[str, str] = {}
    build_root = ROOT / ".build"
    build_root.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{function}-", dir=build_root) as site:
        if requirements.is_file() and requirement_lines(requirements):
            install(options, path, function, requirements, Path(site))
            dependencies, versions = dependency_files(Path(site))
            check_binaries(dependencies, options.target)
        else:
            print("    no requirements to install")
        try:
            files = merge(code, dependencies)
        except ValueError as e:
            raise BuildError(f"{function}: a dependency and our code use the same path: {e}") from e
        if compiler:
            files |= compile_bytecode(options, compiler, files, Path(site) / ".bytecode")
        zip_path = staging / f"{function}.zip"
        write_zip(files, zip_path)
    data = zip_path.read_bytes()
    return {
        "zip": zip_path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "requirements": versions,
    }


def build(options: Options) -> dict:
    started = time.monotonic()
    path, why = choose_path(options.docker)
    install_path = "Docker" if path == "docker" else "pip (no Docker)"
    print(f"==> building for {options.target.runtime} {options.target.arch}: {install_path}, because {why}")
    compiler = bytecode_compiler(options, path)
    if compiler:
        print(f"    bytecode: compiled by {compiler.where}")
    else:
        print(
            f"    bytecode: none, as this build runs without Docker and there is no python{options.target.python} on "
            "PATH: each cold start will compile the modules it imports from source (docs/build.md)"
        )
    options.out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=options.out))
    try:
        functions = {function: build_function(options, path, compiler, function, staging) for function in FUNCTIONS}
        info = {
            "runtime": options.target.runtime,
            "architecture": options.target.arch,
            "functions": functions,
            "build_path": path,
            "bytecode": compiler is not None,
        }
        (staging / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
        # build-info.json last: whoever reads it finds zips that match it.
        for name in [*(f["zip"] for f in functions.values()), "build-info.json"]:
            os.replace(staging / name, options.out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for function in functions.values():
        shown = display(options.out / function["zip"])
        print(f"    {shown}  {function['size']:>10,} bytes  sha256 {function['sha256']}")
    print(f"    {display(options.out / 'build-info.json')}")
    print(f"==> done in {time.monotonic() - started:.1f} s")
    return info


def display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str]) -> int:
    options = parse_options(argv, dict(os.environ))
    try:
        build(options)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
