"""Carry out a plan: check everything first, then change the system, then the environment.

The order is the contract (and the reason this module exists apart from the steps):

1. **Refuse a target that cannot work** (``checks``): it must see the provider's site dir,
   run the Python version the system's packages are built for, and not be externally
   managed unless the user said ``--break-system-packages``. **Refuse a plan that would
   break the running sysnative** (``selfguard``): a change, where sysnative loads it from,
   to a distribution it needs that no longer satisfies its requirement, or to sysnative
   itself. Nothing has changed yet.
2. **Nothing to do?** A re-run after a complete install stops here, quickly.
3. **Check before any change**: the privileges for the system step (else the exact command to
   run as root), the provider's acceptance of the exact versions (a fresh simulation that
   must reproduce the planned closure), and every wheel downloaded into a staging dir and
   checked against its sha256; a release the plan builds from its sdist (``--allow-build``)
   is downloaded and checked the same way, then built into a wheel by pip (:mod:`sdists`),
   so that a build that fails changes nothing either.
4. **The system step**: one provider transaction, verified package by package afterwards.
   If it fails, nothing from the index is installed and the error says what dpkg records
   and how to undo or finish it.
5. **The trial import** of each native wheel's modules in the target, every staged wheel
   unpacked first on its path and the system step done (:mod:`trialimport`): a wheel built
   for other native libraries than the system's stops the run here, before the target's
   site-packages change. Then **the wheel step**: pip installs the verified files, offline
   and by hash. If it fails or
   is interrupted, what it installed is removed again before the error is reported.
6. **Marker metadata** for system packages the target would otherwise not see under their
   project name or version (from the mapping data), then **the environment check**: every
   installed distribution's requirements are met, counting the system's. Problems that were
   already there before the run are warnings; new ones are failures.
"""

from __future__ import annotations

import logging
import shlex
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from packaging.utils import canonicalize_name

from sysnative.cache import Cache
from sysnative.checks import postflight, preflight
from sysnative.errors import (
    BuildError,
    EnvironmentProbeError,
    PrivilegeError,
    SysnativeError,
    SystemStepError,
    TargetRefused,
    WheelStepError,
)
from sysnative.index.fetch import Fetcher
from sysnative.install import selfguard, staging, standins, trialimport, wheels
from sysnative.mapping.table import MappingTable
from sysnative.models import ClosureItem, FileKind, Plan, PlannedPackage
from sysnative.protocols import Privileges, Progress, Provider
from sysnative.target import TargetEnvironment

if TYPE_CHECKING:
    from sysnative.install.sdists import SdistBuilder

logger = logging.getLogger(__name__)

__all__ = ["InstallOptions", "InstallResult", "execute", "interrupted_system_step", "refusals"]

Probe = Callable[[str], TargetEnvironment]

#: Problems that only matter when the plan uses system packages.
_SYSTEM_ONLY = frozenset({preflight.SITE_DIR_NOT_SEEN, preflight.PYTHON_VERSION})


@dataclass(frozen=True)
class InstallOptions:
    break_system_packages: bool = False
    #: Seconds to wait for another package manager's dpkg lock.
    lock_timeout: float = 120.0
    #: False when the configuration says ``sudo = "never"``: the system step needs root.
    allow_sudo: bool = True
    #: Where the package manager's own output is shown while it runs (``-v``: the
    #: command's stderr); ``None``: it is only captured, for messages.
    provider_output: TextIO | None = None


@dataclass(frozen=True)
class InstallResult:
    """What a run changed, and what it found."""

    #: ``(package, version)`` the system step asked the provider for.
    system_requested: tuple[tuple[str, str], ...] = ()
    #: Everything the system step installed or upgraded (the closure).
    system_installed: tuple[ClosureItem, ...] = ()
    wheels_installed: tuple[staging.StagedWheel, ...] = ()
    #: The wheels among them that were built here from their sdists.
    built: tuple[staging.StagedWheel, ...] = ()
    #: Plan rows that were already in place before the run.
    already_present: tuple[PlannedPackage, ...] = ()
    markers: tuple[Path, ...] = ()
    #: Wheels the index published no sha256 for (hashed on download, vouched for by nobody).
    unverified: tuple[str, ...] = ()
    #: Requirement problems this run introduced (failures) and found already (warnings).
    new_problems: tuple[postflight.Unmet, ...] = ()
    old_problems: tuple[postflight.Unmet, ...] = ()
    #: Introduced by the system step, the distribution's own: a system package asks for a
    #: project the distribution does not install with it (warnings; see postflight.distro_gaps).
    distro_problems: tuple[postflight.Unmet, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.system_installed or self.wheels_installed or self.markers)


def refusals(
    plan: Plan,
    target: TargetEnvironment,
    provider: Provider,
    *,
    break_system_packages: bool,
    probe: Probe,
) -> tuple[preflight.Problem, ...]:
    """The reasons not to install ``plan`` into ``target`` (empty: go ahead)."""
    provider_python: TargetEnvironment | None = None
    if plan.system:  # the version check only matters for the system's packages
        try:
            provider_python = probe(provider.interpreter())
        except EnvironmentProbeError as exc:
            logger.debug("cannot probe %s: %s", provider.interpreter(), exc)
    problems = preflight.check_target(
        target,
        provider_python,
        provider.site_dirs(),
        break_system_packages=break_system_packages,
        interpreter=provider.interpreter(),
    )
    if not plan.system:
        problems = tuple(p for p in problems if p.code not in _SYSTEM_ONLY)
    return problems


def execute(
    plan: Plan,
    *,
    target: TargetEnvironment,
    provider: Provider,
    mapping: MappingTable,
    http: Fetcher,
    cache: Cache | None,
    options: InstallOptions,
    progress: Progress | None = None,
    notify: Callable[[str], object] | None = None,
    probe: Probe,
    builder: SdistBuilder | None = None,
) -> InstallResult:
    """Install ``plan`` into ``target`` in the order described in the module docstring.

    ``notify`` gets a line for the user before a step that may take minutes (the system
    step, builds), so that a quiet terminal is not mistaken for a hung one. ``builder``
    builds the wheels of the rows planned from sdists (``--allow-build``); a plan with such
    rows and no builder is refused before any change.
    """
    problems = refusals(
        plan,
        target,
        provider,
        break_system_packages=options.break_system_packages,
        probe=probe,
    )
    if problems:
        raise TargetRefused(target.executable, problems)
    selfguard.refuse_self_changes_to(plan, target, provider.site_dirs())

    system_rows = [r for r in plan.system if not r.already_installed]
    requested = _requested_packages(plan)
    wheel_rows = [r for r in plan.pypi if not r.already_installed]
    present = tuple(r for r in plan.packages if r.already_installed)
    markers_now = standins.markers_needed(plan.system, mapping, target)
    if not system_rows and not wheel_rows and not markers_now:
        return InstallResult(already_present=present)
    to_build = {r.file.filename for r in wheel_rows if r.file is not None and _is_sdist(r)}
    if to_build and builder is None:
        names = ", ".join(f"{r.name} {r.version}" for r in wheel_rows if _is_sdist(r))
        raise BuildError(
            f"The plan builds {names} from sdists, and this run cannot build. Nothing was changed.",
            "Plan and install in one run with --allow-build.",
        )

    # -- 3. check before any change ---------------------------------------------------------
    privileges = Privileges(ok=True)
    if requested:
        privileges = provider.check_privileges()
        if privileges.ok and privileges.prefix and not options.allow_sudo:
            privileges = Privileges(
                ok=False,
                why='sysnative is not root, and the configuration says sudo = "never"',
            )
        if not privileges.ok:
            command = shlex.join(provider.install_command(requested, Privileges(ok=True)))
            raise PrivilegeError(
                f"Installing the system packages needs root: {privileges.why}. "
                "Nothing was changed.",
                "Run the system step as root, then run this command again to install the "
                "rest: " + command,
                command=command,
            )
        provider.check_install(requested, plan.system_closure)
    before_problems = postflight.unmet(target)
    with tempfile.TemporaryDirectory(prefix="sysnative-") as work:
        work_dir = Path(work)
        files = [r.file for r in wheel_rows if r.file is not None]
        staged = staging.stage(files, work_dir / "wheels", http, cache=cache, progress=progress)
        native_wheels = {r.name for r in wheel_rows if r.native_wheel}
        unverified = tuple(w.path.name for w in staged if not w.verified)
        built: list[staging.StagedWheel] = []
        if to_build:
            assert builder is not None
            if notify is not None:
                count = len(to_build)
                sources = "its sdist" if count == 1 else "their sdists"
                wheels_built = f"{count} wheel{'' if count == 1 else 's'}"
                notify(f"Building {wheels_built} from {sources} with pip ...")
            ready = []
            for wheel in staged:
                if wheel.path.name in to_build:
                    wheel = builder.build(wheel, work_dir / "built")
                    built.append(wheel)
                ready.append(wheel)
            staged = tuple(ready)
            # A wheel with compiled code, built here: imported beside the system's packages
            # before anything is installed, as native wheels from the index are.
            native_wheels |= {w.project for w in built if not _pure_wheel(w.path.name)}

        # -- 4. the system step ---------------------------------------------------------------
        if requested:
            if notify is not None:
                notify(_system_step_line(provider.name, requested, plan.system_closure, options))
            try:
                provider.install(
                    requested,
                    plan.system_closure,
                    privileges,
                    lock_timeout=options.lock_timeout,
                    echo=options.provider_output,
                )
            except SystemStepError as exc:
                exc.message += "\nNothing was installed from the index."
                raise
            except KeyboardInterrupt:
                raise interrupted_system_step(provider, plan.system_closure) from None

        # -- 5. the trial import, then the wheel step -------------------------------------------
        failures = trialimport.check(
            target.executable,
            [
                trialimport.NativeWheel(w.project, str(w.version), w.path)
                for w in staged
                if w.project in native_wheels
            ],
            [w.path for w in staged],
            work_dir / "trial",
        )
        if failures:
            error = trialimport.describe_failures(failures, target.executable)
            error.message += "\nNothing was installed from the index." + (
                " The system step had completed and stays: "
                + ", ".join(f"{name} {version}" for name, version in requested)
                + "."
                if requested
                else ""
            )
            raise error
        outcome = wheels.WheelStepOutcome(installed=(), skipped=())
        if staged:
            try:
                outcome = wheels.install_wheels(
                    staged,
                    target,
                    work_dir=work_dir / "pip",
                    break_system_packages=options.break_system_packages,
                    probe=probe,
                )
            except WheelStepError as exc:
                if requested:
                    exc.message += (
                        "\nThe system step had completed and stays: "
                        + ", ".join(f"{name} {version}" for name, version in requested)
                        + ". Running the same command again installs the rest."
                    )
                raise

    # -- 6. marker metadata, then the environment check -----------------------------------------
    after = probe(target.executable)
    written: tuple[Path, ...] = ()
    needed = standins.markers_needed(plan.system, mapping, after)
    if needed:
        location = standins.marker_location(after, provider.site_dirs())
        written = standins.write_markers(needed, location)
        after = probe(target.executable)
    after_problems = postflight.unmet(after)
    new, distro = postflight.distro_gaps(
        postflight.new_problems(before_problems, after_problems),
        after,
        provider.site_dirs(),
        (canonicalize_name(w.project) for w in outcome.installed),
    )
    return InstallResult(
        system_requested=tuple(requested),
        system_installed=plan.system_closure if requested else (),
        wheels_installed=outcome.installed,
        built=tuple(w for w in built if w in outcome.installed),
        already_present=present,
        markers=written,
        unverified=unverified,
        new_problems=new,
        old_problems=postflight.old_problems(before_problems, after_problems),
        distro_problems=distro,
    )


def _is_sdist(row: PlannedPackage) -> bool:
    return row.file is not None and row.file.kind is FileKind.SDIST


def _pure_wheel(filename: str) -> bool:
    from packaging.utils import parse_wheel_filename

    tags = parse_wheel_filename(filename)[3]
    return all(t.abi == "none" and t.platform == "any" for t in tags)


def interrupted_system_step(provider: Provider, closure: Sequence[ClosureItem]) -> SystemStepError:
    """Ctrl-C reached the package manager too: say exactly what it left behind."""
    try:
        state = provider.verify(closure)
    except SysnativeError as exc:
        state = (f"(the package states could not be read: {exc.message})",)
    advice, retry = provider.recovery()
    error = SystemStepError(
        "Interrupted during the system step. Nothing was installed from the index.\n"
        + (
            "Packages not installed as planned:\n" + "\n".join("    " + s for s in state)
            if state
            else "Every system package had been installed as planned."
        ),
        f"Run the same command again to finish the job; {advice}",
        state=state,
        retry=retry,
    )
    error.exit_code = 130
    return error


def _requested_packages(plan: Plan) -> list[tuple[str, str]]:
    """``(package, version)`` the system step names: what the plan asked the provider for.

    Packages that come only as dependencies of those are left to the provider (apt marks them
    automatically installed, so they leave again with what needed them); the closure check
    still pins their versions.
    """
    out: dict[str, str] = {}
    for row in plan.system:
        if row.requested and not row.already_installed and row.package and row.distro_version:
            out.setdefault(row.package, row.distro_version)
    return sorted(out.items())


def _system_step_line(
    tool: str,
    requested: Sequence[tuple[str, str]],
    closure: Sequence[ClosureItem],
    options: InstallOptions,
) -> str:
    """``Installing 2 packages with apt (14 in the transaction) ...``."""
    count = len(requested)
    line = f"Installing {count} package{'s' if count != 1 else ''} with {tool}"
    if len(closure) > count:
        line += f" ({len(closure)} in the transaction)"
    if options.provider_output is None:
        line += "; -v shows its output"
    return line + " ..."
