"""Run pip with environment markers evaluated for another platform (used by bundle.sh).

`pip download --platform` picks wheels by the target's tags but still evaluates environment
markers (`sys_platform == "win32"`, ...) against the machine it runs on (pypa/pip#10050), so a
Windows bundle built on Linux would miss pywin32 and colorama and ask for uvloop. This sets the
marker environment to the target's before handing over to pip.

    python scripts/pip_for_platform.py windows|linux PYTHON_VERSION -- <pip arguments>
"""

from __future__ import annotations

import sys

TARGETS = {
    "windows": {"os_name": "nt", "sys_platform": "win32", "platform_system": "Windows",
                "platform_machine": "AMD64", "platform_release": "10", "platform_version": "10.0.20348"},
    "linux": {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux",
              "platform_machine": "x86_64", "platform_release": "", "platform_version": ""},
}


def main() -> None:
    kind, python_version, separator, *pip_args = sys.argv[1:]
    if kind not in TARGETS or separator != "--":
        raise SystemExit(__doc__)
    from pip._internal.cli.main import main as pip_main
    from pip._vendor.packaging import markers

    native = markers.default_environment

    def target_environment() -> dict[str, str]:
        environment = dict(native())
        environment.update(TARGETS[kind])
        environment.update({"python_version": python_version, "python_full_version": f"{python_version}.0",
                            "implementation_name": "cpython", "platform_python_implementation": "CPython"})
        return environment

    markers.default_environment = target_environment  # type: ignore[assignment]
    raise SystemExit(pip_main(pip_args))


if __name__ == "__main__":
    main()
