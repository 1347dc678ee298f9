// Package loader reads a tree of workload files into model objects.
//
// It works on any fs.FS: a directory for `cellsync validate DIR` and `plan
// DIR` (LoadDir, through an os.Root), and a Git tree for the hub's Git
// source, so both apply the same rules: only *.yaml and *.yml files are read,
// hidden files and directories (".git", ".github") are skipped, files over
// Options.MaxFileSize are rejected, and a symlink is followed only while its
// target stays inside the tree; symlinked directories are followed neither
// by the walk nor on a link's way to its target; a link to another workload
// file of the tree is read once, as that file. Every problem is returned, not
// just the first:
//
//	res, err := loader.LoadDir("repo", loader.Options{})
//	if err != nil {
//		return err // no such directory
//	}
//	for _, err := range res.Errors() {
//		fmt.Println(err) // apps/web.yaml:12: document 1: spec.image: is required
//	}
//	objs := res.Objects()
//
// The package keeps no state between calls.
package loader
