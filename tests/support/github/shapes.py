"""JSON shapes the stand-in returns, field for field as GitHub's REST API and the recordings have them."""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tests.support.github.state import Asset, Comment, Issue, Label, Release, Repo, Status, User

JSON = dict[str, Any]


@dataclass(frozen=True)
class Urls:
    """Where the stand-in is reached: ``api`` (with ``/api/v3`` for GHE style), ``web`` and ``uploads``."""

    api: str
    web: str
    uploads: str

    def repo(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def user(urls: Urls, u: User) -> JSON:
    api = f"{urls.api}/users/{quote(u.login)}"
    return {
        "login": u.login,
        "id": u.id,
        "node_id": node_id(u.type, u.id),
        "avatar_url": f"{urls.web}/avatars/u/{u.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{urls.web}/{quote(u.login)}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": u.type,
        "site_admin": False,
    }


def repository(urls: Urls, repo: Repo, *, kind: str = "full") -> JSON:
    """``simple`` (as nested in statuses), ``list`` (as in lists and PR heads) or ``full`` (GET repo)."""
    api = urls.repo(repo)
    html = f"{urls.web}/{repo.full_name}"
    host = urls.web.split("://", 1)[1]
    out: JSON = {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": user(urls, repo.owner),
        "html_url": html,
        "description": None,
        "fork": False,
        "url": api,
        "forks_url": f"{api}/forks",
        "keys_url": f"{api}/keys{{/key_id}}",
        "collaborators_url": f"{api}/collaborators{{/collaborator}}",
        "teams_url": f"{api}/teams",
        "hooks_url": f"{api}/hooks",
        "issue_events_url": f"{api}/issues/events{{/number}}",
        "events_url": f"{api}/events",
        "assignees_url": f"{api}/assignees{{/user}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "tags_url": f"{api}/tags",
        "blobs_url": f"{api}/git/blobs{{/sha}}",
        "git_tags_url": f"{api}/git/tags{{/sha}}",
        "git_refs_url": f"{api}/git/refs{{/sha}}",
        "trees_url": f"{api}/git/trees{{/sha}}",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "languages_url": f"{api}/languages",
        "stargazers_url": f"{api}/stargazers",
        "contributors_url": f"{api}/contributors",
        "subscribers_url": f"{api}/subscribers",
        "subscription_url": f"{api}/subscription",
        "commits_url": f"{api}/commits{{/sha}}",
        "git_commits_url": f"{api}/git/commits{{/sha}}",
        "comments_url": f"{api}/comments{{/number}}",
        "issue_comment_url": f"{api}/issues/comments{{/number}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "merges_url": f"{api}/merges",
        "archive_url": f"{api}/{{archive_format}}{{/ref}}",
        "downloads_url": f"{api}/downloads",
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "milestones_url": f"{api}/milestones{{/number}}",
        "notifications_url": f"{api}/notifications{{?since,all,participating}}",
        "labels_url": f"{api}/labels{{/name}}",
        "releases_url": f"{api}/releases{{/id}}",
        "deployments_url": f"{api}/deployments",
    }
    if kind == "simple":
        return out
    out |= {
        "created_at": repo.created_at,
        "updated_at": repo.created_at,
        "pushed_at": repo.created_at,
        "git_url": f"git://{host}/{repo.full_name}.git",
        "ssh_url": f"git@{host.split(':')[0]}:{repo.full_name}.git",
        "clone_url": f"{html}.git",
        "svn_url": html,
        "homepage": None,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": None,
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": True,
        "has_pages": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": sum(1 for i in repo.issues.values() if i.state == "open"),
        "license": None,
        "allow_forking": True,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private" if repo.private else "public",
        "forks": 0,
        "open_issues": sum(1 for i in repo.issues.values() if i.state == "open"),
        "watchers": 0,
        "default_branch": repo.default_branch,
    }
    if kind == "full":
        out.update(
            {
                "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
                "temp_clone_token": "",
                "allow_squash_merge": True,
                "allow_merge_commit": True,
                "allow_rebase_merge": True,
                "allow_auto_merge": False,
                "delete_branch_on_merge": False,
                "allow_update_branch": False,
                "use_squash_pr_title_as_default": False,
                "network_count": 0,
                "subscribers_count": 0,
            }
        )
        if repo.owner.type == "Organization":
            out["organization"] = user(urls, repo.owner)
    return out


def label(urls: Urls, repo: Repo, lab: Label) -> JSON:
    return {
        "id": lab.id,
        "node_id": node_id("Label", lab.id),
        "url": f"{urls.repo(repo)}/labels/{quote(lab.name, safe='')}",
        "name": lab.name,
        "color": lab.color,
        "default": lab.default,
        "description": lab.description,
    }


def _reactions(url: str) -> JSON:
    return {
        "url": f"{url}/reactions",
        "total_count": 0,
        "+1": 0,
        "-1": 0,
        "laugh": 0,
        "hooray": 0,
        "confused": 0,
        "heart": 0,
        "rocket": 0,
        "eyes": 0,
    }


def _association(repo: Repo, login: str) -> str:
    return "OWNER" if login.lower() == repo.owner.login.lower() else "MEMBER"


def issue(urls: Urls, repo: Repo, item: Issue, users: dict[str, User], *, single: bool = False) -> JSON:
    api = f"{urls.repo(repo)}/issues/{item.number}"
    kind = "pull" if item.pull is not None else "issues"
    out: JSON = {
        "url": api,
        "repository_url": urls.repo(repo),
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": f"{urls.web}/{repo.full_name}/{kind}/{item.number}",
        "id": item.id,
        "node_id": node_id("Issue", item.id),
        "number": item.number,
        "title": item.title,
        "user": user(urls, users[item.user.lower()]),
        "labels": [label(urls, repo, repo.labels[name.lower()]) for name in item.labels],
        "state": item.state,
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": sum(1 for c in repo.comments.values() if c.issue_number == item.number),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "closed_at": item.closed_at,
        "author_association": _association(repo, item.user),
        "active_lock_reason": None,
        "body": item.body,
        "reactions": _reactions(api),
        "timeline_url": f"{api}/timeline",
        "performed_via_github_app": None,
        "state_reason": "completed" if item.state == "closed" else None,
    }
    if item.pull is not None:
        pulls = f"{urls.repo(repo)}/pulls/{item.number}"
        html = f"{urls.web}/{repo.full_name}/pull/{item.number}"
        out["draft"] = item.pull.draft
        out["pull_request"] = {
            "url": pulls,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": item.pull.merged_at,
        }
    if single:
        closer = users.get((item.closed_by or "").lower())
        out["closed_by"] = user(urls, closer) if closer else None
    return out


def fork_of(urls: Urls, parent: JSON, owner: str, name: str, owner_json: JSON) -> JSON:
    """``parent`` (a repository's JSON) as ``owner``'s fork of it would be shown."""
    full_name = f"{owner}/{name}"
    out = dict(parent)
    out.update(
        {
            "id": 10_000_000 + int(hashlib.sha256(full_name.encode()).hexdigest()[:6], 16),
            "full_name": full_name,
            "owner": owner_json,
            "fork": True,
            "html_url": f"{urls.web}/{full_name}",
            "url": f"{urls.api}/repos/{full_name}",
        }
    )
    return out


def pull(urls: Urls, repo: Repo, item: Issue, users: dict[str, User], *, single: bool = False) -> JSON:
    assert item.pull is not None
    p = item.pull
    api = f"{urls.repo(repo)}/pulls/{item.number}"
    html = f"{urls.web}/{repo.full_name}/pull/{item.number}"
    issue_api = f"{urls.repo(repo)}/issues/{item.number}"
    repo_json = repository(urls, repo, kind="list")
    owner_json = user(urls, repo.owner)
    head_repo_json, head_user_json = repo_json, owner_json
    if p.head_owner.lower() != repo.owner.login.lower():
        # A fork's pull request: GitHub names the fork as the head's repository (and its owner as user).
        fork_owner = users.get(p.head_owner.lower())
        head_user_json = user(urls, fork_owner) if fork_owner else {"login": p.head_owner}
        head_repo_json = fork_of(urls, repo_json, p.head_owner, repo.name, head_user_json)
    out: JSON = {
        "url": api,
        "id": item.pull_id,
        "node_id": node_id("PullRequest", item.pull_id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_api,
        "number": item.number,
        "state": item.state,
        "locked": False,
        "title": item.title,
        "user": user(urls, users[item.user.lower()]),
        "body": item.body,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "closed_at": item.closed_at,
        "merged_at": p.merged_at,
        "merge_commit_sha": p.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [label(urls, repo, repo.labels[name.lower()]) for name in item.labels],
        "milestone": None,
        "draft": p.draft,
        "commits_url": f"{api}/commits",
        "review_comments_url": f"{api}/comments",
        "review_comment_url": f"{urls.repo(repo)}/pulls/comments{{/number}}",
        "comments_url": f"{issue_api}/comments",
        "statuses_url": f"{urls.repo(repo)}/statuses/{p.head_sha}",
        "head": {
            "label": f"{p.head_owner}:{p.head_ref}",
            "ref": p.head_ref,
            "sha": p.head_sha,
            "user": head_user_json,
            "repo": head_repo_json,
        },
        "base": {
            "label": f"{repo.owner.login}:{p.base_ref}",
            "ref": p.base_ref,
            "sha": p.base_sha,
            "user": owner_json,
            "repo": repo_json,
        },
        "_links": {
            "self": {"href": api},
            "html": {"href": html},
            "issue": {"href": issue_api},
            "comments": {"href": f"{issue_api}/comments"},
            "review_comments": {"href": f"{api}/comments"},
            "review_comment": {"href": f"{urls.repo(repo)}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/commits"},
            "statuses": {"href": f"{urls.repo(repo)}/statuses/{p.head_sha}"},
        },
        "author_association": _association(repo, item.user),
        "auto_merge": None,
        "active_lock_reason": None,
    }
    if single:
        merged_by = users.get((p.merged_by or "").lower())
        mergeable = p.mergeable if item.state == "open" else None
        out.update(
            {
                "merged": p.merged_at is not None,
                "mergeable": mergeable,
                "rebaseable": mergeable,
                "mergeable_state": "clean" if mergeable else ("dirty" if mergeable is False else "unknown"),
                "merged_by": user(urls, merged_by) if merged_by else None,
                "comments": sum(1 for c in repo.comments.values() if c.issue_number == item.number),
                "review_comments": 0,
                "maintainer_can_modify": p.maintainer_can_modify,
                "commits": 1,
                "additions": 0,
                "deletions": 0,
                "changed_files": 0,
            }
        )
    return out


def comment(urls: Urls, repo: Repo, c: Comment, users: dict[str, User]) -> JSON:
    api = f"{urls.repo(repo)}/issues/comments/{c.id}"
    item = repo.issues.get(c.issue_number)
    kind = "pull" if item is not None and item.pull is not None else "issues"
    return {
        "url": api,
        "html_url": f"{urls.web}/{repo.full_name}/{kind}/{c.issue_number}#issuecomment-{c.id}",
        "issue_url": f"{urls.repo(repo)}/issues/{c.issue_number}",
        "id": c.id,
        "node_id": node_id("IssueComment", c.id),
        "user": user(urls, users[c.user.lower()]),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "author_association": _association(repo, c.user),
        "body": c.body,
        "reactions": _reactions(api),
        "performed_via_github_app": None,
    }


def status(urls: Urls, repo: Repo, s: Status, users: dict[str, User], *, with_creator: bool = True) -> JSON:
    creator = users[s.creator.lower()]
    out: JSON = {
        "url": f"{urls.repo(repo)}/statuses/{s.sha}",
        "avatar_url": f"{urls.web}/avatars/u/{creator.id}?v=4",
        "id": s.id,
        "node_id": node_id("StatusContext", s.id),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": s.created_at,
        "updated_at": s.created_at,
    }
    if with_creator:
        out["creator"] = user(urls, creator)
    return out


def combined_state(latest: list[Status]) -> str:
    """GitHub's rule: failure if a context errored or failed, pending if none or one pending, else success."""
    states = {s.state for s in latest}
    if states & {"error", "failure"}:
        return "failure"
    if not latest or "pending" in states:
        return "pending"
    return "success"


def combined_status(
    urls: Urls, repo: Repo, sha: str, ref: str, latest: list[Status], users: dict[str, User]
) -> JSON:
    return {
        "state": combined_state(latest),
        "statuses": [status(urls, repo, s, users, with_creator=False) for s in latest],
        "sha": sha,
        "total_count": len(latest),
        "repository": repository(urls, repo, kind="simple"),
        "commit_url": f"{urls.repo(repo)}/commits/{sha}",
        "url": f"{urls.repo(repo)}/commits/{quote(ref, safe='')}/status",
    }


def git_ref(urls: Urls, repo: Repo, ref: str, sha: str, kind: str) -> JSON:
    plural = "tags" if kind == "tag" else "commits"
    return {
        "ref": ref,
        "node_id": node_id("Ref", zlib.crc32(ref.encode())),
        "url": f"{urls.repo(repo)}/git/{quote(ref)}",
        "object": {"sha": sha, "type": kind, "url": f"{urls.repo(repo)}/git/{plural}/{sha}"},
    }


def asset(urls: Urls, repo: Repo, release: Release, a: Asset, users: dict[str, User]) -> JSON:
    return {
        "url": f"{urls.repo(repo)}/releases/assets/{a.id}",
        "id": a.id,
        "node_id": node_id("ReleaseAsset", a.id),
        "name": a.name,
        "label": a.label,
        "uploader": user(urls, users[a.uploader.lower()]),
        "content_type": a.content_type,
        "state": "uploaded",
        "size": len(a.data),
        "download_count": 0,
        "created_at": a.created_at,
        "updated_at": a.created_at,
        "browser_download_url": (
            f"{urls.web}/{repo.full_name}/releases/download/{quote(release.tag_name)}/{quote(a.name)}"
        ),
    }


def release(urls: Urls, repo: Repo, r: Release, users: dict[str, User]) -> JSON:
    api = f"{urls.repo(repo)}/releases/{r.id}"
    return {
        "url": api,
        "assets_url": f"{api}/assets",
        "upload_url": f"{urls.uploads}/repos/{repo.full_name}/releases/{r.id}/assets{{?name,label}}",
        "html_url": f"{urls.web}/{repo.full_name}/releases/tag/{quote(r.tag_name)}",
        "id": r.id,
        "author": user(urls, users[r.author.lower()]),
        "node_id": node_id("Release", r.id),
        "tag_name": r.tag_name,
        "target_commitish": r.target_commitish,
        "name": r.name,
        "draft": r.draft,
        "prerelease": r.prerelease,
        "created_at": r.created_at,
        "published_at": None if r.draft else r.created_at,
        "assets": [asset(urls, repo, r, a, users) for a in r.assets],
        "tarball_url": f"{urls.repo(repo)}/tarball/{quote(r.tag_name)}",
        "zipball_url": f"{urls.repo(repo)}/zipball/{quote(r.tag_name)}",
        "body": r.body,
    }


def commit(urls: Urls, repo: Repo, sha: str) -> JSON:
    """The parts of a commit object PyGithub reads when it completes a lazy Commit."""
    api = f"{urls.repo(repo)}/commits/{sha}"
    return {
        "sha": sha,
        "node_id": node_id("Commit", int(sha[:6], 16)),
        "url": api,
        "html_url": f"{urls.web}/{repo.full_name}/commit/{sha}",
        "comments_url": f"{api}/comments",
        "commit": {
            "url": f"{urls.repo(repo)}/git/commits/{sha}",
            "message": "",
            "comment_count": 0,
            "tree": {"sha": sha, "url": f"{urls.repo(repo)}/git/trees/{sha}"},
        },
        "parents": [],
        "files": [],
        "stats": {"total": 0, "additions": 0, "deletions": 0},
    }


def error(message: str, documentation_url: str, status_code: int, errors: list[JSON] | None = None) -> JSON:
    """GitHub's error body; current GitHub adds ``status`` (a string) after ``documentation_url``."""
    out: JSON = {"message": message}
    if errors is not None:
        out["errors"] = errors
    out["documentation_url"] = documentation_url
    out["status"] = str(status_code)
    return out
