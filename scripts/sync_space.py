"""Upload the repository to its Hugging Face Space (run by .github/workflows/sync-space.yml).

The upload is one commit that adds or replaces every file the Space needs and deletes the
Space's files of the same kinds that the repository no longer has, so that a moved or
removed module cannot linger on the Space and be imported there. The Space's own
``.gitattributes`` is never touched. Needs ``huggingface_hub``, ``HF_TOKEN`` and the
Space's name in ``HF_SPACE`` (or ``GITHUB_REPOSITORY``).
"""

from __future__ import annotations

import os

# Not uploaded: what only CI and developers use.
IGNORE = [".git/*", ".github/*", ".ci/*", "tests/*", "benchmarks/*"]
# Deleted from the Space when the repository no longer has them (files uploaded in the same
# commit are kept). fnmatch patterns over the whole path: "*.py" matches cnnvis/models/x.py.
DELETE = [
    "*.py", "*.pyi", "*.typed", "*.md", "*.txt", "*.toml", "*.tsv", "*.json", "*.ipynb",
    "*.jpg", "*.jpeg", "*.png", "*.webp", "*.yml", "*.yaml", "*.cfg", "LICENSE", "*/.gitignore",
    ".gitignore",
]


def main() -> None:
    from huggingface_hub import HfApi

    space = os.environ.get("HF_SPACE") or os.environ["GITHUB_REPOSITORY"]
    HfApi(token=os.environ["HF_TOKEN"]).upload_folder(
        repo_id=space,
        repo_type="space",
        folder_path=".",
        ignore_patterns=IGNORE,
        delete_patterns=DELETE,
        commit_message=f"Sync {os.environ.get('GITHUB_SHA', 'local')[:7]} from GitHub",
    )


if __name__ == "__main__":
    main()
