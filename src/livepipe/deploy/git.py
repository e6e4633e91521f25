"""A git target: a branch of a repository (GitHub, GitLab or Gitea Pages). The branch is
fetched into ``.livepipe/deploy/NAME`` (shallow), the build written into it (``prefix``
inside), and a commit pushed only when something changed. A push refused because the
branch moved is retried on top of it (three times); refused for another reason (rights,
protection), it is a clear error. A token comes from ``token_env`` and goes to git through
the environment, never on a command line, in a URL or in a message."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from ..config import DeployTarget, Settings
from . import Build, DeployError, DeployReport
from .directory import write_tree

PUSH_TRIES = 3


def deploy_git(name: str, target: DeployTarget, build: Build, settings: Settings) -> DeployReport:
    assert target.url is not None
    root = settings.root or Path.cwd()
    work = root / ".livepipe" / "deploy" / name
    git = _Git(work, target, name)
    for attempt in range(1, PUSH_TRIES + 1):
        git.checkout()
        report = write_tree(name, work / target.prefix if target.prefix else work, build)
        if not git.commit(report):
            return report  # nothing changed: nothing committed, nothing pushed
        refused = git.push()
        if refused is None:
            report.note = f"pushed to {target.branch}"
            return report
        if "fetch first" not in refused and "non-fast-forward" not in refused:
            raise DeployError(f"deploy {name}: the push to {target.branch} was refused: {refused}")
        time.sleep(0.2 * attempt)  # the branch moved: again, on top of it
    raise DeployError(
        f"deploy {name}: {target.branch} kept moving; gave up after {PUSH_TRIES} pushes"
    )


class _Git:
    def __init__(self, work: Path, target: DeployTarget, name: str) -> None:
        self.work = work
        self.target = target
        self.name = name
        self.env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "livepipe",
            "GIT_AUTHOR_EMAIL": "livepipe@localhost",
            "GIT_COMMITTER_NAME": "livepipe",
            "GIT_COMMITTER_EMAIL": "livepipe@localhost",
        }
        token = os.environ.get(target.token_env or "", "") if target.token_env else ""
        self.secret = token
        if token:  # an Authorization header for this remote only, through the environment
            import base64

            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            self.env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", *args], cwd=self.work, env=self.env, capture_output=True, text=True,
                timeout=self.target.deadline,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise DeployError(f"deploy {self.name}: git {args[0]} took over "
                              f"{self.target.deadline:.0f} s") from None  # fmt: skip
        if check and done.returncode != 0:
            raise DeployError(f"deploy {self.name}: git {args[0]} failed: {self.said(done)}")
        return done

    def said(self, done: subprocess.CompletedProcess[str]) -> str:
        text = " ".join((done.stderr or done.stdout or "").split())[:300]
        return text.replace(self.secret, "***") if self.secret else text

    def checkout(self) -> None:
        """The work tree at the remote branch's head (an empty orphan when there is none)."""
        self.work.mkdir(parents=True, exist_ok=True)
        if not (self.work / ".git").exists():
            self.run("init", "-q")
        assert self.target.url is not None
        self.run("remote", "remove", "origin", check=False)
        self.run("remote", "add", "origin", self.target.url)
        branch = self.target.branch
        fetched = self.run("fetch", "-q", "--depth", "1", "origin", branch, check=False)
        if fetched.returncode == 0:
            self.run("checkout", "-q", "-B", branch, "FETCH_HEAD")
            self.run("reset", "-q", "--hard", "FETCH_HEAD")
            self.run("clean", "-q", "-fdx")
        elif (
            "couldn't find remote ref" in fetched.stderr.lower()
            or "not found" in fetched.stderr.lower()
        ):
            self.run("checkout", "-q", "--orphan", branch, check=False)
            self.run("rm", "-q", "-rf", "--cached", ".", check=False)
            self.run("clean", "-q", "-fdx")
        else:
            raise DeployError(f"deploy {self.name}: cannot fetch {branch}: {self.said(fetched)}")

    def commit(self, report: DeployReport) -> bool:
        self.run("add", "-A")
        staged = self.run("diff", "--cached", "--quiet", check=False)
        if staged.returncode == 0:
            return False
        message = (
            f"livepipe: {len(report.written)} written, {len(report.removed)} removed\n\n"
            + "\n".join(f"- {p}" for p in (report.written + report.removed)[:50])
        )
        self.run("commit", "-q", "-m", message)
        return True

    def push(self) -> str | None:
        """None when pushed; git's words when refused."""
        done = self.run(
            "push", "-q", "origin", f"HEAD:refs/heads/{self.target.branch}", check=False
        )
        return None if done.returncode == 0 else self.said(done)
