"""The real kubectl binary, run with a kubeconfig: what the integration and lab tiers drive podlab with."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass


@dataclass
class Kubectl:
    binary: str
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 30, env_extra: dict[str, str] | None = None,
            input_text: str | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([self.binary, *args], env={**self.env, **(env_extra or {})}, capture_output=True,
                              text=True, timeout=timeout, input=input_text, cwd=cwd)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    def out(self, *args: str) -> str:
        return self.run(*args).stdout
