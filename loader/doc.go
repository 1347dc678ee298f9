// Package loader reads a tree of workload files into model objects.
//
// It works on any fs.FS: os.DirFS for `cellsync validate DIR`, and a Git tree
// for the hub's Git source, so both apply the same rules: only *.yaml and
// *.yml files are read, hidden files and directories (".git", ".github") are
// skipped, files over Options.MaxFileSize are rejected, and a symlink is
// followed only while its target stays inside the tree (symlinked directories
// are not followed; a link to another workload file of the tree is read once,
// as that file). Every problem is returned, not just the first:
//
//	res := loader.Load(os.DirFS("repo"), loader.Options{})
//	for _, err := range res.Errors() {
//		fmt.Println(err) // apps/web.yaml:12: document 1: spec.image: is required
//	}
//	objs := res.Objects()
//
// The package keeps no state between calls.
package loader
