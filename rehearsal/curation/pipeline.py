"""Pipeline files: an ordered list of curation steps with their parameters (TOML).

    name = "pitched, good, balanced"
    description = "What the next convergent model learns from."

    [analysis]              # optional: descriptor parameters (see analysis.AnalysisParams)
    hop = 512

    [[steps]]
    use = "select-symbols"  # a registered step (`rehearsal plugins` lists them)
    keep = ["good"]

    [[steps]]
    use = "loudness-gate"
    min_db = -40
    enabled = true          # false keeps the step in the file but skips it

Every error names the file, the line and the field (`steps[2].min_db`). The exact text
is stored with each dataset version it makes.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .analysis import AnalysisParams
from .steps import Step, StepParamError, build_step

MAX_STEPS = 200
_TOP_KEYS = {"name", "description", "analysis", "steps"}
_STEP_KEYS = {"use", "enabled", "note"}


class PipelineError(ValueError):
    def __init__(self, source: str, line: int | None, field: str, message: str):
        self.source, self.line, self.field, self.message = source, line, field, message
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


@dataclass(frozen=True)
class StepSpec:
    index: int            # 1-based position in the file
    use: str
    params: dict
    enabled: bool = True
    note: str = ""
    line: int | None = None

    @property
    def label(self) -> str:
        return f"{self.index} {self.use}"


@dataclass(frozen=True)
class Pipeline:
    name: str
    description: str
    steps: tuple[StepSpec, ...]
    analysis: AnalysisParams
    text: str
    source: str
    sha256: str

    def instantiate(self, spec: StepSpec, registry: dict) -> Step:
        """The step object for `spec`, parameters checked; PipelineError names line and field."""
        field = f"steps[{spec.index}]"
        cls = registry.get(spec.use)
        if cls is None:
            known = ", ".join(sorted(registry)) or "none: no plugin provides curation steps"
            raise PipelineError(self.source, _Locator(self.text).line("steps", spec.index - 1, "use"),
                                f"{field}.use", f"unknown step {spec.use!r} (known: {known})")
        try:
            step = build_step(cls, spec.params)
        except StepParamError as exc:
            line = _Locator(self.text).line("steps", spec.index - 1, exc.field.split("[")[0] or None)
            sub = f".{exc.field}" if exc.field else ""
            raise PipelineError(self.source, line, f"{field}{sub}", exc.message) from None
        object.__setattr__(step, "name", spec.use)   # the name the pipeline calls it by (frozen-safe)
        return step

    def check(self, registry: dict) -> list[Step]:
        """Instantiate every enabled step: the whole file is validated before anything runs."""
        return [self.instantiate(s, registry) for s in self.steps if s.enabled]


class _Locator:
    """Finds the line of `key` inside the n-th `[[table]]` (tomllib keeps no positions)."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def line(self, table: str | None, index: int | None = None, key: str | None = None) -> int | None:
        start, end = 0, len(self.lines)
        if table:
            headers = [i for i, ln in enumerate(self.lines) if ln.strip().startswith(f"[[{table}]]")]
            if index is None or index >= len(headers):
                single = [i for i, ln in enumerate(self.lines) if ln.strip().startswith(f"[{table}]")]
                if not single:
                    return None
                start = single[0]
            else:
                start = headers[index]
            for i in range(start + 1, len(self.lines)):
                if self.lines[i].lstrip().startswith("["):
                    end = i
                    break
            if key is None:
                return start + 1
        pattern = re.compile(rf'^\s*["\']?{re.escape(key or "")}["\']?\s*=')
        for i in range(start, end):
            if key and pattern.match(self.lines[i]):
                return i + 1
        return start + 1 if table else None


def parse_pipeline(text: str, source: str = "<pipeline>") -> Pipeline:
    """Parse and check the structure (steps are checked against plugins by `Pipeline.check`)."""
    from ..notation.load import MAX_DEPTH, _masked, _too_deep   # one nesting check for every TOML we read

    deep = _too_deep(_masked(text))
    if deep is not None:
        raise PipelineError(source, deep, "", f"nested more than {MAX_DEPTH} levels deep")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise PipelineError(source, int(m.group(1)) if m else None, "", f"invalid TOML: {exc}") from None
    loc = _Locator(text)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise PipelineError(source, loc.line(None, None, unknown[0]), unknown[0],
                            f"unknown key (a pipeline has {', '.join(sorted(_TOP_KEYS))})")
    name = data.get("name", Path(source).stem if source and not source.startswith("<") else "pipeline")
    if not isinstance(name, str) or not name.strip():
        raise PipelineError(source, loc.line(None, None, "name"), "name", "must be non-empty text")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise PipelineError(source, loc.line(None, None, "description"), "description", "must be text")
    analysis_data = data.get("analysis", {})
    if not isinstance(analysis_data, dict):
        raise PipelineError(source, loc.line(None, None, "analysis"), "analysis", "must be a table: [analysis]")
    try:
        analysis = AnalysisParams.from_dict(analysis_data)
    except (TypeError, ValueError) as exc:
        bad = next((k for k in analysis_data if k in str(exc)), None)
        raise PipelineError(source, loc.line("analysis", None, bad), f"analysis.{bad}" if bad else "analysis",
                            str(exc)) from None
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list) or not all(isinstance(s, dict) for s in raw_steps):
        raise PipelineError(source, loc.line(None, None, "steps"), "steps", "write each step as a [[steps]] table")
    if not raw_steps:
        raise PipelineError(source, None, "steps", "a pipeline needs at least one [[steps]]")
    if len(raw_steps) > MAX_STEPS:
        raise PipelineError(source, None, "steps", f"at most {MAX_STEPS} steps")
    steps = []
    for i, raw in enumerate(raw_steps):
        where = f"steps[{i + 1}]"
        use = raw.get("use")
        if not isinstance(use, str) or not use.strip():
            raise PipelineError(source, loc.line("steps", i, "use" if "use" in raw else None), f"{where}.use",
                                "each step needs `use = \"<step name>\"`")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise PipelineError(source, loc.line("steps", i, "enabled"), f"{where}.enabled", "must be true or false")
        note = raw.get("note", "")
        if not isinstance(note, str):
            raise PipelineError(source, loc.line("steps", i, "note"), f"{where}.note", "must be text")
        params = {k: v for k, v in raw.items() if k not in _STEP_KEYS}
        steps.append(StepSpec(i + 1, use.strip(), params, enabled, note, loc.line("steps", i)))
    return Pipeline(name.strip(), description, tuple(steps), analysis, text, source,
                    hashlib.sha256(text.encode("utf-8")).hexdigest())


def load_pipeline(path: str | Path) -> Pipeline:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(str(path), None, "", "no such pipeline file") from None
    except UnicodeDecodeError as exc:
        raise PipelineError(str(path), None, "", f"not UTF-8 text ({exc.reason})") from None
    return parse_pipeline(text, str(path))


def shipped_pipelines() -> dict[str, Path]:
    """Example pipelines that ship with rehearsal (rehearsal_plugins/pipelines/*.toml)."""
    try:
        folder = resources.files("rehearsal_plugins") / "pipelines"
        return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return {}


def find_pipeline(name_or_path: str, workspace_pipelines: Path | None = None) -> Path:
    """A path as given, else `<name>.toml` in the workspace's pipelines/, else a shipped one."""
    as_path = Path(name_or_path)
    if as_path.suffix == ".toml" or as_path.exists():
        return as_path
    if workspace_pipelines is not None and (workspace_pipelines / f"{name_or_path}.toml").exists():
        return workspace_pipelines / f"{name_or_path}.toml"
    shipped = shipped_pipelines()
    if name_or_path in shipped:
        return shipped[name_or_path]
    raise PipelineError(name_or_path, None, "",
                        f"no pipeline of that name (shipped: {', '.join(sorted(shipped)) or 'none'})")
