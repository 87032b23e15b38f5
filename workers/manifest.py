"""`.takos/app.yml`: parse and validate the app manifest, naming the key and line of every error.

Reference shape (spec/product.md §6): `apiVersion: takos.dev/v1alpha1`, `kind: App`,
`metadata.name`, `spec.version`, `spec.workers`, `spec.services`, `spec.routes`,
`spec.resources` (kept as-is for the resources slice). Our runtime adds, per workload:
`build.fromWorkflow{path, job, artifact, artifactPath?}` or `image`, a `run` command that
listens on `$PORT`, `port`, `healthCheck{path, interval, timeout}`, `env`, and
`scale{min, max, concurrency}`; and at `spec.rollout` the default rollout
(`strategy: immediate|canary`, `steps`, `interval`, `maxErrorRate`, `minRequests`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

MANIFEST_PATH = ".takos/app.yml"
API_VERSION = "takos.dev/v1alpha1"
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_STEPS = [5, 25, 50, 100]
MAX_MANIFEST_BYTES = 256 * 1024

WORKLOAD_KEYS = {"build", "image", "imageRef", "dockerfile", "run", "port", "healthCheck", "env", "scale",
                 "scaling", "bindings", "triggers", "containers", "dependsOn", "provider", "volumes", "ipv4"}
TOP_SPEC_KEYS = {"version", "workers", "services", "containers", "routes", "resources", "env", "oauth",
                 "mcpServers", "fileHandlers", "capabilities", "overrides", "rollout", "description", "icon"}


@dataclass
class ManifestIssue:
    key: str  # dotted path, e.g. "spec.workers.web.healthCheck.path"
    line: int | None  # 1-based line in app.yml
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "line": self.line, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.key}: {self.message}"


class ManifestError(Exception):
    """The manifest is not valid; `issues` lists every problem found."""

    def __init__(self, issues: list[ManifestIssue]):
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues[:5]))


@dataclass
class HealthCheck:
    path: str = "/health"
    interval: float = 5.0  # seconds between checks during a rollout
    timeout: float = 2.0  # per check
    start_timeout: float = 60.0  # how long a new runtime may take to become healthy


@dataclass
class Workload:
    name: str
    kind: str  # worker | service
    image: str = ""  # "" = the default runtime image
    run: str = ""
    port: int = 8080
    from_workflow: dict[str, str] | None = None
    health: HealthCheck = field(default_factory=HealthCheck)
    env: dict[str, str] = field(default_factory=dict)
    scale_min: int = 0
    scale_max: int = 1
    concurrency: int = 100

    @property
    def artifact_kind(self) -> str:
        if self.from_workflow:
            return "workflow-artifact"
        return "source" if not self.image or self.run else "container-image"


@dataclass
class RolloutConfig:
    strategy: str = "immediate"  # immediate | canary
    steps: list[int] = field(default_factory=lambda: list(DEFAULT_STEPS))
    interval: float = 60.0
    max_error_rate: float = 0.05
    min_requests: int = 20


@dataclass
class Manifest:
    name: str
    version: str
    workloads: dict[str, Workload]
    routes: list[dict[str, Any]]
    rollout: RolloutConfig
    raw: dict[str, Any]

    @property
    def primary(self) -> Workload:
        """The workload served at the app's hostname: the target of the route at `/`, else the first."""
        for route in self.routes:
            if route.get("path", "/") in ("/", "") and route.get("target") in self.workloads:
                return self.workloads[route["target"]]
        return next(iter(self.workloads.values()))


# --- YAML with line numbers -------------------------------------------------------------------

_CONSTRUCTOR = yaml.SafeLoader("")


def _to_python(node: yaml.Node, path: str, lines: dict[str, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            child = f"{path}.{key}" if path else key
            lines[child] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, child, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, f"{path}[{i}]", lines) for i, item in enumerate(node.value)]
    # Scalars: the safe constructor turns the resolved tag into int, bool, None...
    return _CONSTRUCTOR.construct_object(node, deep=True)


def load_yaml(text: str) -> tuple[Any, dict[str, int]]:
    lines: dict[str, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ManifestError([ManifestIssue("", line, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")]) \
            from None
    if node is None:
        return None, lines
    return _to_python(node, "", lines), lines


# --- validation --------------------------------------------------------------------------------


class _Checker:
    def __init__(self, lines: dict[str, int]):
        self.lines = lines
        self.issues: list[ManifestIssue] = []

    def line(self, key: str) -> int | None:
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rsplit(".", 1)[0] if "." in key else ""
        return self.lines.get("")

    def err(self, key: str, message: str) -> None:
        self.issues.append(ManifestIssue(key, self.line(key), message))

    def mapping(self, value: Any, key: str, *, required: bool = False) -> dict[str, Any]:
        if value is None:
            if required:
                self.err(key, "is required")
            return {}
        if not isinstance(value, dict):
            self.err(key, "must be a mapping")
            return {}
        return value

    def string(self, value: Any, key: str, *, required: bool = False) -> str:
        if value is None or value == "":
            if required:
                self.err(key, "is required")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.err(key, "must be a string")
            return ""
        return str(value)

    def number(self, value: Any, key: str, default: float, *, minimum: float, maximum: float) -> float:
        if value is None:
            return default
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", value)
            if match:
                factor = {"ms": 0.001, "s": 1, "m": 60, None: 1}[match.group(2)]
                value = float(match.group(1)) * factor
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.err(key, "must be a number")
            return default
        if not minimum <= value <= maximum:
            self.err(key, f"must be between {minimum:g} and {maximum:g}")
            return default
        return float(value)

    def unknown(self, data: dict[str, Any], allowed: set[str], key: str) -> None:
        for name in data:
            if name not in allowed:
                self.err(f"{key}.{name}" if key else str(name), f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _workload(c: _Checker, name: str, data: Any, key: str, kind: str) -> Workload | None:
    if not NAME_RE.match(str(name)):
        c.err(key, "workload names are lowercase letters, digits and '-'")
    spec = c.mapping(data, key, required=True)
    if not spec:
        return None
    c.unknown(spec, WORKLOAD_KEYS, key)
    w = Workload(name=str(name), kind=kind)
    build = c.mapping(spec.get("build"), f"{key}.build")
    if build:
        c.unknown(build, {"fromWorkflow"}, f"{key}.build")
        wf = c.mapping(build.get("fromWorkflow"), f"{key}.build.fromWorkflow", required=True)
        if wf:
            c.unknown(wf, {"path", "job", "artifact", "artifactPath"}, f"{key}.build.fromWorkflow")
            path = c.string(wf.get("path"), f"{key}.build.fromWorkflow.path", required=True)
            if path and not (path.startswith(".takos/workflows/") and path.endswith((".yml", ".yaml"))):
                c.err(f"{key}.build.fromWorkflow.path", "must be a .yml file under .takos/workflows/")
            w.from_workflow = {
                "path": path,
                "job": c.string(wf.get("job"), f"{key}.build.fromWorkflow.job", required=True),
                "artifact": c.string(wf.get("artifact"), f"{key}.build.fromWorkflow.artifact", required=True),
                "artifactPath": c.string(wf.get("artifactPath"), f"{key}.build.fromWorkflow.artifactPath"),
            }
    w.image = c.string(spec.get("image") or spec.get("imageRef"), f"{key}.image")
    w.run = c.string(spec.get("run"), f"{key}.run")
    if w.from_workflow and w.image:
        c.err(f"{key}.image", "use either build.fromWorkflow or image, not both")
    if not w.run and not w.image:
        c.err(f"{key}.run", "is required unless an image is given (the command that serves on $PORT)")
    if spec.get("dockerfile") and not w.image:
        c.err(f"{key}.dockerfile", "image builds from a Dockerfile are not supported here; set image or run")
    w.port = int(c.number(spec.get("port"), f"{key}.port", 8080, minimum=1, maximum=65535))
    hc = c.mapping(spec.get("healthCheck"), f"{key}.healthCheck")
    if hc:
        c.unknown(hc, {"path", "interval", "timeout", "startTimeout"}, f"{key}.healthCheck")
        path = c.string(hc.get("path"), f"{key}.healthCheck.path") or "/health"
        if not path.startswith("/"):
            c.err(f"{key}.healthCheck.path", "must start with /")
        w.health = HealthCheck(
            path=path,
            interval=c.number(hc.get("interval"), f"{key}.healthCheck.interval", 5, minimum=0.1, maximum=3600),
            timeout=c.number(hc.get("timeout"), f"{key}.healthCheck.timeout", 2, minimum=0.05, maximum=120),
            start_timeout=c.number(hc.get("startTimeout"), f"{key}.healthCheck.startTimeout", 60,
                                   minimum=1, maximum=900),
        )
    env = c.mapping(spec.get("env"), f"{key}.env")
    for env_name, value in env.items():
        if not ENV_NAME_RE.match(str(env_name)):
            c.err(f"{key}.env.{env_name}", "is not a valid environment variable name")
        elif isinstance(value, dict | list):
            c.err(f"{key}.env.{env_name}", "must be a string")
        else:
            w.env[str(env_name)] = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    scale_key = "scale" if "scale" in spec else "scaling"
    scale = c.mapping(spec.get(scale_key), f"{key}.{scale_key}")
    if scale:
        c.unknown(scale, {"min", "max", "concurrency"}, f"{key}.{scale_key}")
        w.scale_min = int(c.number(scale.get("min"), f"{key}.{scale_key}.min", 0, minimum=0, maximum=100))
        w.scale_max = int(c.number(scale.get("max"), f"{key}.{scale_key}.max", 1, minimum=1, maximum=100))
        w.concurrency = int(c.number(scale.get("concurrency"), f"{key}.{scale_key}.concurrency", 100,
                                     minimum=1, maximum=10000))
        if w.scale_min > w.scale_max:
            c.err(f"{key}.{scale_key}.min", "must not exceed max")
    return w


def _rollout(c: _Checker, data: Any) -> RolloutConfig:
    key = "spec.rollout"
    spec = c.mapping(data, key)
    cfg = RolloutConfig()
    if not spec:
        return cfg
    c.unknown(spec, {"strategy", "steps", "interval", "maxErrorRate", "minRequests"}, key)
    strategy = c.string(spec.get("strategy"), f"{key}.strategy") or "immediate"
    if strategy not in ("immediate", "canary"):
        c.err(f"{key}.strategy", "must be immediate or canary")
    cfg.strategy = strategy
    if "steps" in spec:
        cfg.steps = validate_steps(spec["steps"], lambda msg: c.err(f"{key}.steps", msg)) or cfg.steps
    cfg.interval = c.number(spec.get("interval"), f"{key}.interval", 60, minimum=0.1, maximum=86400)
    cfg.max_error_rate = c.number(spec.get("maxErrorRate"), f"{key}.maxErrorRate", 0.05, minimum=0, maximum=1)
    cfg.min_requests = int(c.number(spec.get("minRequests"), f"{key}.minRequests", 20, minimum=0, maximum=10**6))
    return cfg


def validate_steps(steps: Any, err: Any) -> list[int] | None:
    """Canary steps: increasing percentages 1..100 ending at 100."""
    if not isinstance(steps, list) or not steps or not all(isinstance(s, int) and not isinstance(s, bool)
                                                           for s in steps):
        err("must be a list of whole percentages such as [5, 25, 50, 100]")
        return None
    if any(not 1 <= s <= 100 for s in steps) or steps != sorted(set(steps)):
        err("must increase strictly, each between 1 and 100")
        return None
    if steps[-1] != 100:
        steps = [*steps, 100]
    return steps


def parse_manifest(text: str | bytes) -> Manifest:
    """Parse and validate `.takos/app.yml`; raises ManifestError listing every problem with its line."""
    if isinstance(text, bytes):
        if len(text) > MAX_MANIFEST_BYTES:
            raise ManifestError([ManifestIssue("", None, "the manifest is larger than 256 KB")])
        text = text.decode("utf-8", errors="replace")
    data, lines = load_yaml(text)
    c = _Checker(lines)
    top = c.mapping(data, "", required=True) if data is not None else {}
    if data is None:
        raise ManifestError([ManifestIssue("", 1, "the manifest is empty")])
    if not top:
        raise ManifestError(c.issues)
    c.unknown(top, {"apiVersion", "kind", "metadata", "spec"}, "")
    api_version = c.string(top.get("apiVersion"), "apiVersion", required=True)
    if api_version and api_version != API_VERSION:
        c.err("apiVersion", f"must be {API_VERSION}")
    kind = c.string(top.get("kind"), "kind", required=True)
    if kind and kind != "App":
        c.err("kind", "must be App (exact case)")
    meta = c.mapping(top.get("metadata"), "metadata", required=True)
    name = c.string(meta.get("name"), "metadata.name", required=True) if meta else ""
    if name and not NAME_RE.match(name):
        c.err("metadata.name", "must be lowercase letters, digits and '-' (at most 40), like a hostname label")
    spec = c.mapping(top.get("spec"), "spec", required=True)
    c.unknown(spec, TOP_SPEC_KEYS, "spec")
    version = c.string(spec.get("version"), "spec.version", required=True) if spec else ""
    workloads: dict[str, Workload] = {}
    for group, kind_name in (("workers", "worker"), ("services", "service")):
        entries = c.mapping(spec.get(group), f"spec.{group}")
        for wname, wdata in entries.items():
            key = f"spec.{group}.{wname}"
            if wname in workloads:
                c.err(key, "a worker and a service share this name")
                continue
            workload = _workload(c, str(wname), wdata, key, kind_name)
            if workload is not None:
                workloads[str(wname)] = workload
    if spec and not workloads and not any(i.key.startswith("spec.workers") or i.key.startswith("spec.services")
                                          for i in c.issues):
        c.err("spec.workers", "at least one worker or service is required")
    routes = spec.get("routes") or []
    if not isinstance(routes, list):
        c.err("spec.routes", "must be a list")
        routes = []
    for i, route in enumerate(routes):
        key = f"spec.routes[{i}]"
        r = c.mapping(route, key)
        if not r:
            continue
        c.unknown(r, {"name", "target", "path", "ingress", "timeoutMs", "methods"}, key)
        c.string(r.get("name"), f"{key}.name", required=True)
        target = c.string(r.get("target"), f"{key}.target", required=True)
        if target and target not in workloads:
            c.err(f"{key}.target", f"names no worker or service ({target!r})")
        path = r.get("path", "/")
        if not isinstance(path, str) or not path.startswith("/"):
            c.err(f"{key}.path", "must start with /")
    if "resources" in spec:
        c.mapping(spec.get("resources"), "spec.resources")  # kept for the resources slice
    rollout = _rollout(c, spec.get("rollout")) if spec else RolloutConfig()
    if c.issues:
        raise ManifestError(c.issues)
    return Manifest(name=name, version=version, workloads=workloads, routes=routes, rollout=rollout, raw=top)
