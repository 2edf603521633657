"""The local cloud: Pub/Sub + Firestore emulators, fake-gcs-server, the local Dataproc endpoint and
one functions-framework process per Cloud Function, wired together as on GCP.

    cloud = LocalCloud(Path(".zygarde"), LocalPorts())
    cloud.up()                          # idempotent, dependency order
    os.environ.update(cloud.env())      # clients now reach the local cloud
    LocalCloud.load(Path(".zygarde")).env()   # later, from another process
    cloud.down()
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zygarde.config import env_name, jobs_audience, prefix, resources, topic
from zygarde.local import bootstrap
from zygarde.local.identity import TokenIssuer
from zygarde.local.processes import (LocalCloudError, ManagedProcess, ProcessSpec, fake_gcs_binary,
                                     find_java, firestore_emulator_jar, http_ready, port_is_free,
                                     pubsub_emulator_jar)
from zygarde.local.token_server import CERTS_PATH, TOKEN_PATH
from zygarde.packaging import REPO_ROOT, build_code_bundle, bundle_version

log = logging.getLogger(__name__)

EMULATORS = ("pubsub", "firestore", "storage")
STATE_FILE = "state.json"
_GCS_EVENTS = {"OBJECT_FINALIZE": "finalize", "OBJECT_DELETE": "delete", "OBJECT_METADATA_UPDATE": "metadataUpdate"}


def function_keys() -> list[str]:
    """Pub/Sub-triggered functions, then HTTP ones (predict)."""
    return [*resources()["functions"], *resources().get("http_functions", {})]


def http_function_keys() -> list[str]:
    return list(resources().get("http_functions", {}))


def function_component(key: str) -> str:
    return f"function-{key}"


def all_components() -> tuple[str, ...]:
    """Every component, in start order."""
    return (*EMULATORS, IDENTITY, "dataproc", *(function_component(k) for k in function_keys()), "scheduler", "web")


IDENTITY = "identity"  # the token issuer (zygarde/local/token_server.py)
WEB_DELEGATE = "zygarde-web@{project}.iam.gserviceaccount.com"  # the web app's identity, a trusted delegate


def _with_identity(components: tuple[str, ...]) -> tuple[str, ...]:
    """The functions and the web app verify or fetch tokens: where they run, the token issuer runs too."""
    if IDENTITY in components or not any(c.startswith("function-") or c == "web" for c in components):
        return components
    return tuple(c for c in all_components() if c in (*components, IDENTITY)) + \
        tuple(c for c in components if c not in all_components())


def _default_function_ports() -> dict[str, int]:
    return {key: 8701 + i for i, key in enumerate(function_keys())}


@dataclass(frozen=True)
class LocalPorts:
    """Where each component listens. Defaults avoid 8080; functions get 8701, 8702, ..."""

    pubsub: int = 8085
    dataproc: int = 8086
    firestore: int = 8681
    storage: int = 4443
    scheduler: int = 8087
    web: int = 8088
    identity: int = 8089
    functions: dict[str, int] = field(default_factory=_default_function_ports)

    def port_of(self, component: str) -> int:
        if component.startswith("function-"):
            return self.functions[component.removeprefix("function-")]
        return getattr(self, component)

    def with_overrides(self, text: str) -> "LocalPorts":
        """Apply "pubsub=9085,firestore=9681,functions=9701,submit_job=9801" (functions = first function port)."""
        values = dataclasses.asdict(self)
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, raw = item.partition("=")
            if not sep or not raw.strip().isdigit():
                raise LocalCloudError(f"bad port setting {item!r}: expected NAME=PORT")
            key, port = key.strip(), int(raw)
            if key == "functions":
                values["functions"] = {k: port + i for i, k in enumerate(function_keys())}
            elif key in values["functions"]:
                values["functions"][key] = port
            elif key in values:
                values[key] = port
            else:
                raise LocalCloudError(f"unknown port name {key!r}: use pubsub, firestore, storage, dataproc, "
                                      f"scheduler, web, identity, functions or one of {', '.join(function_keys())}")
        return LocalPorts(**values)

    @classmethod
    def free(cls, low: int | None = None, high: int | None = None, host: str = "127.0.0.1") -> "LocalPorts":
        """Ports that are free right now in [low, high] (default: $ZYGARDE_TEST_PORT_RANGE, else
        18200-18299), scanning from a random start: for tests."""
        if low is None or high is None:
            env_low, _, env_high = os.environ.get("ZYGARDE_TEST_PORT_RANGE", "18200-18299").partition("-")
            low, high = int(env_low), int(env_high)
        span = list(range(low, high + 1))
        start = random.randrange(len(span))
        candidates = (p for p in span[start:] + span[:start] if port_is_free(p, host))
        try:
            pubsub, firestore, storage, dataproc, scheduler, web, identity = (next(candidates) for _ in range(7))
            functions = {key: next(candidates) for key in function_keys()}
        except StopIteration:
            raise LocalCloudError(f"not enough free ports in {low}-{high}") from None
        return cls(pubsub=pubsub, dataproc=dataproc, firestore=firestore, storage=storage, scheduler=scheduler,
                   web=web, identity=identity, functions=functions)


LOCAL_BATCH_STARTUP_SECONDS = 20  # spark-submit, JVM and session, reading the prepared data (measured)
LOCAL_HANDOFF_SECONDS = 20  # a warm batch's wait for its job's next work (Settings.handoff_seconds)


class LocalCloud:
    """Starts, stops and describes one local cloud whose state lives in state_dir."""

    def __init__(self, state_dir: Path, ports: LocalPorts | None = None, project: str = "zygarde-local",
                 bucket: str = "zygarde-local", max_concurrent_batches: int = 2,
                 functions_source: Path = Path("functions/main.py"), region: str = "us-central1",
                 host: str = "127.0.0.1", code_version: str | None = None,
                 components: Iterable[str] | None = None, pin_code_version: bool | None = None,
                 tick_seconds: float = 120.0):
        """code_version: a fixed version to upload the bundle under; without it each up() names the
        version after the bundle's hash (so changed code is uploaded anew and the functions restart).
        tick_seconds: how often the local scheduler publishes the reconciler's tick (terraform: 2 min)."""
        self.state_dir = Path(state_dir).resolve()
        self.ports = ports or LocalPorts()
        self.project, self.bucket, self.region, self.host = project, bucket, region, host
        self.max_concurrent_batches = int(max_concurrent_batches)
        self.functions_source = _resolve_source(Path(functions_source))
        self.code_version = code_version
        self.pin_code_version = bool(code_version) if pin_code_version is None else pin_code_version
        self.components = _with_identity(tuple(components)) if components is not None else all_components()
        self.tick_seconds = float(tick_seconds)

    # --- state ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"project": self.project, "bucket": self.bucket, "region": self.region, "host": self.host,
                "ports": dataclasses.asdict(self.ports), "max_concurrent_batches": self.max_concurrent_batches,
                "functions_source": str(self.functions_source), "code_version": self.code_version,
                "pin_code_version": self.pin_code_version, "components": list(self.components),
                "tick_seconds": self.tick_seconds}

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / STATE_FILE).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, state_dir: Path) -> "LocalCloud":
        """The cloud recorded in state_dir (starts nothing)."""
        path = Path(state_dir) / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise LocalCloudError(f"no local cloud recorded in {state_dir}: run `zygarde local up` first") from None
        except ValueError as err:
            raise LocalCloudError(f"unreadable state file {path}: {err}") from None
        ports = LocalPorts(**data.pop("ports"))
        data["components"] = _with_identity(tuple(data.get("components") or all_components()))
        return cls(state_dir, ports=ports, functions_source=Path(data.pop("functions_source")), **data)

    # --- what clients need ----------------------------------------------------------------------------
    def url(self, component: str) -> str:
        return f"http://{self.host}:{self.ports.port_of(component)}"

    def env(self) -> dict[str, str]:
        """Every env var a client (SDK, gcloud, zygarde) needs to reach this local cloud."""
        h, p = self.host, self.ports
        env = {
            "PUBSUB_EMULATOR_HOST": f"{h}:{p.pubsub}",
            "FIRESTORE_EMULATOR_HOST": f"{h}:{p.firestore}",
            "STORAGE_EMULATOR_HOST": f"http://{h}:{p.storage}",
            "GOOGLE_CLOUD_PROJECT": self.project,
            "CLOUDSDK_CORE_PROJECT": self.project,
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"http://{h}:{p.pubsub}/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"http://{h}:{p.storage}/",  # gcloud storage cp ...
            "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
            "CLOUDSDK_CONFIG": str(self.state_dir / "gcloud"),
            env_name("project"): self.project,
            env_name("bucket"): self.bucket,
            env_name("region"): self.region,
            env_name("max_concurrent_batches"): str(self.max_concurrent_batches),
            # A local batch starts in seconds, not a minute, and has this machine's cores (the local
            # Dataproc endpoint caps a batch's cores at the machine's).
            env_name("batch_startup_seconds"): os.environ.get(env_name("batch_startup_seconds"),
                                                              str(LOCAL_BATCH_STARTUP_SECONDS)),
            env_name("pack_concurrency"): os.environ.get(env_name("pack_concurrency"), str(os.cpu_count() or 2)),
            env_name("handoff_seconds"): os.environ.get(env_name("handoff_seconds"), str(LOCAL_HANDOFF_SECONDS)),
        }
        if self.code_version:
            env[env_name("code_version")] = self.code_version
        if "dataproc" in self.components:
            env[env_name("dataproc_endpoint")] = self.url("dataproc")
        if function_component("predict") in self.components and "predict" in self.ports.functions:
            env[env_name("predict_url")] = self.url(function_component("predict"))
        if IDENTITY in self.components:
            issuer = self.url(IDENTITY)
            env.update({env_name("token_certs_url"): issuer + CERTS_PATH, env_name("token_issuers"): issuer,
                        env_name("trusted_delegates"): self.web_delegate,
                        env_name("local_token_url"): issuer + TOKEN_PATH})
        return env

    @property
    def web_delegate(self) -> str:
        """The web app's identity here: a trusted delegate, as its service account is on Google Cloud."""
        return WEB_DELEGATE.format(project=self.project)

    def token_issuer(self) -> TokenIssuer:
        """The issuer of this cloud's identity tokens (its key made on first use, kept in the state folder)."""
        return TokenIssuer.load_or_create(self.state_dir / IDENTITY, self.url(IDENTITY))

    def identity_token(self, user: str, lifetime: float = 3600.0) -> str:
        """A token for `user` that this cloud's functions accept on the jobs topic and the predict service."""
        return self.token_issuer().mint(user, jobs_audience(self.project), lifetime=lifetime)

    def web_env(self) -> dict[str, str]:
        """The web app's settings here: the development sign-in (this is the local cloud) and a
        session key kept in the state folder, so sessions outlive restarts."""
        key_file = self.state_dir / "web-secret-key"
        if not key_file.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        names = resources()["web_env"]
        return {names["dev_login"]: "1", names["secret_key"]: key_file.read_text().strip(),
                env_name("local_identity"): self.web_delegate}

    # --- components ---------------------------------------------------------------------------------
    def spec(self, component: str) -> ProcessSpec:
        """How to run a component: its probe plus command line, env and working folder."""
        h, port = self.host, self.ports.port_of(component)
        env: dict[str, str] = {}
        if component == "pubsub":
            argv = (find_java(), "-jar", str(pubsub_emulator_jar()), f"--host={h}", f"--port={port}")
        elif component == "firestore":
            argv = (find_java(), "-cp", str(firestore_emulator_jar()),
                    "com.google.cloud.datastore.emulator.firestore.CloudFirestore", "start",
                    f"--host={h}", f"--port={port}", "--database-mode=firestore-native")
        elif component == "storage":
            argv = self._storage_argv(port)
            env = {"PUBSUB_EMULATOR_HOST": f"{h}:{self.ports.pubsub}"}  # where notifications go
        else:
            env = {**{k: v for k, v in self.env().items() if not k.startswith("CLOUDSDK_")},
                   "PYTHONPATH": str(REPO_ROOT)}
            if component == "scheduler":
                argv = (sys.executable, "-m", "zygarde.local.scheduler", "--host", h, "--port", str(port),
                        "--pubsub", f"{h}:{self.ports.pubsub}", "--project", self.project,
                        "--every", f"{self.tick_seconds:g}")
            elif component == "web":
                env.update(self.web_env())
                env["XDG_RUNTIME_DIR"] = str(self.state_dir / "run" / component)  # gunicorn's control socket
                argv = (sys.executable, "-m", "gunicorn", "--bind", f"{h}:{port}", "--workers", "1",
                        "--threads", "8", "--access-logfile", "-", "zygarde.web.wsgi:app")
            elif component == IDENTITY:
                argv = (sys.executable, "-m", "zygarde.local.token_server", "--host", h, "--port", str(port),
                        "--state-dir", str(self.state_dir / IDENTITY), "--issuer", self.url(IDENTITY))
            elif component == "dataproc":
                argv = (sys.executable, "-m", "zygarde.local.dataproc_server", "--host", h, "--port", str(port),
                        "--state-dir", str(self.state_dir / "dataproc"),
                        "--max-concurrent", str(self.max_concurrent_batches))
            else:
                key = component.removeprefix("function-")
                http = key in http_function_keys()
                entry_point = resources()["http_functions" if http else "functions"][key]["entry_point"]
                env["XDG_RUNTIME_DIR"] = str(self.state_dir / "run" / component)  # gunicorn's control socket
                env["FUNCTION_TARGET"] = entry_point  # as Cloud Functions sets it (functions/main.py reads it)
                argv = (sys.executable, "-m", "functions_framework", "--target", entry_point,
                        "--source", str(self.functions_source), "--signature-type", "http" if http else "cloudevent",
                        "--host", h, "--port", str(port))
        return dataclasses.replace(self.probe(component), argv=tuple(argv), env=env, cwd=str(REPO_ROOT))

    def _storage_argv(self, port: int) -> list[str]:
        """fake-gcs-server, publishing the bucket notification of resources.json to the Pub/Sub emulator
        (for objects of our bucket only); filtered subscriptions route it, as on Google Cloud."""
        notes = resources()["bucket_notifications"]
        if len(notes) > 1:
            raise LocalCloudError("fake-gcs-server can publish one bucket notification; resources.json has several")
        argv = [str(fake_gcs_binary()), "-scheme", "http", "-backend", "memory", "-host", self.host,
                "-port", str(port), "-public-host", f"{self.host}:{port}"]
        for note in notes:
            argv += ["-event.pubsub-project-id", self.project, "-event.pubsub-topic", topic(note["topic"]),
                     "-event.bucket", self.bucket, "-event.list", _GCS_EVENTS[note["event"]]]
            if note.get("prefix_key"):
                argv += ["-event.object-prefix", prefix(note["prefix_key"])]
        return argv

    def _ensure(self, components: list[str]) -> None:
        """Start those not running (restart those started differently), then wait for all."""
        procs = [ManagedProcess(self.spec(c), self.state_dir) for c in components]
        for proc in procs:
            if proc.is_running() and proc.matches_spec():
                log.info("already running component=%s pid=%s", proc.spec.name, proc.pid)
                continue
            proc.stop()  # a leftover started with other settings
            if "XDG_RUNTIME_DIR" in proc.spec.env:
                Path(proc.spec.env["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
            proc.start()
        for proc in procs:
            proc.wait_ready()

    # --- lifecycle ------------------------------------------------------------------------------------
    def up(self) -> dict:
        """Start what is missing, in dependency order, and create the resources. Returns status()."""
        wanted = [c for c in all_components() if c in self.components]
        if not self.functions_source.is_file() and any(c.startswith("function-") for c in wanted):
            raise LocalCloudError(f"functions source not found: {self.functions_source}")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "gcloud").mkdir(exist_ok=True)
        self.save()
        self._ensure([c for c in wanted if c in ("pubsub", "firestore")])
        pubsub_host, storage_url = f"{self.host}:{self.ports.pubsub}", self.url("storage")
        bootstrap.create_topics(pubsub_host, self.project)  # before fake-gcs publishes to them
        self._ensure([c for c in wanted if c == "storage"])
        bootstrap.create_bucket(storage_url, self.project, self.bucket)
        runners = [c for c in wanted if c not in EMULATORS]
        if IDENTITY in runners:
            self.token_issuer()  # the key exists before anyone asks for a token
        if runners:
            bundle = build_code_bundle(self.state_dir / "code")
            if not (self.pin_code_version and self.code_version):
                self.code_version = bundle_version(bundle)
            self.save()
            bootstrap.upload_code(storage_url, self.bucket, bundle, self.code_version)
            function_urls = {k: self.url(function_component(k)) for k in function_keys()
                             if function_component(k) in wanted and k not in http_function_keys()}
            bootstrap.create_push_subscriptions(pubsub_host, self.project, function_urls)
            self._ensure(runners)
        log.info("local cloud up state_dir=%s project=%s", self.state_dir, self.project)
        return self.status()

    def start_emulators_only(self) -> dict:
        """Pub/Sub + Firestore + fake-gcs (with topics and bucket): what integration tests need."""
        self.components = EMULATORS
        return self.up()

    def down(self) -> list[str]:
        """Stop every process recorded in the state folder, last started first. Returns the stopped names."""
        order = list(all_components())
        recorded = sorted((p.stem for p in (self.state_dir / "pids").glob("*.json")),
                          key=lambda name: order.index(name) if name in order else -1, reverse=True)
        stopped = [name for name in recorded
                   if ManagedProcess(ProcessSpec(name, (), 0, self.host), self.state_dir).stop()]
        log.info("local cloud down state_dir=%s stopped=%s", self.state_dir, ",".join(stopped) or "-")
        return stopped

    def probe(self, component: str) -> ProcessSpec:
        """The readiness probe of a component, without looking up tools."""
        port = self.ports.port_of(component)
        if component == "storage":
            return ProcessSpec(component, (), port, self.host, ready_path="/_internal/healthcheck", ready_text=None)
        if component.startswith("function-"):
            return ProcessSpec(component, (), port, self.host, ready_text=None)
        if component == "web":
            return ProcessSpec(component, (), port, self.host, ready_path="/healthz", ready_text="ok")
        return ProcessSpec(component, (), port, self.host)

    def status(self) -> dict[str, dict]:
        """{component: {pid, port, running, ready, log}} for every component of this cloud."""
        out = {}
        for component in self.components:
            probe = self.probe(component)
            proc = ManagedProcess(probe, self.state_dir)
            pid = proc.pid
            ready = pid is not None and http_ready(probe.host, probe.port, probe.ready_path, probe.ready_text, 1.0)
            out[component] = {"pid": pid, "port": probe.port, "running": pid is not None, "ready": ready,
                              "log": str(proc.log_path)}
        return out


def _resolve_source(path: Path) -> Path:
    """A relative functions source is looked up in the current folder, then in the repository."""
    if path.is_absolute() or path.exists():
        return path.resolve()
    return (REPO_ROOT / path).resolve()
