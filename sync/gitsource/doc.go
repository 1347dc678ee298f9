// Package gitsource is the hub's Git source: it follows one branch of one
// repository and turns every new commit into a Snapshot, the validated
// desired model tagged with the commit SHA, plus what is wrong with which
// file.
//
// # What it owns
//
// A bare mirror repository in Config.DataDir (created once, then updated by
// fetches), the per-file last good state, the latest Snapshot, a poller, and
// for file:// and local-path URLs an fsnotify watcher on the branch's ref
// file and packed-refs. No git binary is used: https:// and ssh:// remotes
// are fetched with go-git; a local repository is read directly with go-git
// and its new objects copied into the mirror (go-git's file transport would
// run git-upload-pack).
//
// # From commit to snapshot
//
// Commits are read from the object store, never checked out: a small
// read-only fs.FS over the commit's tree (restricted to Config.Path, with
// fs.ReadLinkFS for symlinks) feeds package loader, so the rules that
// `cellsync validate` applies to a directory (only *.yaml and *.yml, hidden
// directories skipped, size limit, symlinks kept inside the tree) apply to
// commits unchanged. The first commit is loaded in full; later ones diff the
// previous and the new tree and re-read only the files that changed (plus
// symlinks, and files held back by a cross-file rule, which another file may
// have fixed). model.Check then runs over the whole model.
//
// # Last good state
//
// A file that fails to read, parse or validate keeps its last good objects,
// overlaid with those of its documents that are valid now, and is listed in
// Snapshot.FileErrors (file, line, field) at the snapshot's commit; its
// workloads are never deleted by a bad commit. A changed file that breaks a
// cross-file rule (a duplicate name, a reference to a missing Config) goes
// back to its last good version the same way. A deleted file deletes its
// workloads, unless the mass-deletion guard holds them: when one commit
// would remove more than Config.MassDeleteFraction (default 0.5) of all
// workloads, the removed ones stay in Snapshot.Objects, Snapshot.Held says
// so, and they stay until a commit carries the annotation
// `cellsync.io/allow-mass-delete: "true"` on any top-level object (remove it
// afterwards).
// The last good state lives in memory. Across restarts the mirror keeps the
// last clean commit (a snapshot with no file error and no held deletion, ref
// refs/cellsync/last-clean): a restarted Source loads it first and diffs the
// head against it, so a broken file keeps a good version (possibly older
// than the one held before the restart) and the guard has a baseline.
//
// # Triggers and failures
//
// Run fetches at once, then on Trigger, on a signed webhook (WebhookHandler,
// POST /hooks/git with X-Hub-Signature-256), on a ref change of a local
// repository, and every PollInterval. Triggers go through a capacity-1
// channel with non-blocking sends, so a burst becomes one fetch. A failed
// fetch (unreachable remote, missing branch, bad credentials) is retried with
// exponential backoff from RetryMin to RetryMax while the latest snapshot is
// still served; Status reports the error, which names the URL but never a
// credential. A force push is handled like any other move of the branch:
// the new tree is diffed against the last synced one, and
// Snapshot.ForcePush is set.
//
// # Lifecycle
//
// New validates the Config and opens the mirror; Run runs until its context
// ends and returns after its goroutines have exited. Sync does one fetch
// synchronously (for tests and one-shot commands) and must not run
// concurrently with Run. Latest, Status, Trigger and the
// webhook handler are safe for concurrent use.
//
// # Usage
//
//	src, err := gitsource.New(gitsource.Config{
//		URL: "https://git.example/ops/workloads.git", Branch: "main", Path: "cells",
//		DataDir: "/var/lib/cellsync/git", WebhookSecret: secret,
//		Auth: gitsource.Auth{Username: "cellsync", PasswordFile: "/etc/cellsync/git-token"},
//	}, gitsource.Deps{Logger: log, Registerer: reg, OnSnapshot: hub.SetDesired})
//	if err != nil {
//		return err
//	}
//	mux.Handle("POST "+gitsource.WebhookPath, src.WebhookHandler())
//	return src.Run(ctx)
//
// # Metrics
//
// cellsync_git_fetch_duration_seconds, cellsync_git_fetch_errors_total,
// cellsync_git_parse_duration_seconds,
// cellsync_git_last_synced_commit_timestamp_seconds,
// cellsync_git_parse_errors, cellsync_git_held_deletions,
// cellsync_git_workloads{kind} and cellsync_git_snapshots_total, on the
// Registerer in Deps.
package gitsource
