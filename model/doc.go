// Package model holds cellsync's domain types: the workload kinds operators
// commit to Git (LRP, Task, Config, SelectorSyncSet) with their rollout
// fields (an LRP's Update, a set's SetRollout, AnnotationPaused), the Cell
// record a cell registers, the records hub and cells exchange (Assignment,
// Actual, with an instance's version: InstanceVersion), and the rules that
// make a workload valid.
//
// The package does no I/O. Parsing takes bytes and a file name, so the same
// code serves a directory on disk (package loader) and a Git tree (package
// sync). Every error it returns is an *Error naming the file, the document
// index inside the file, the field path and the line:
//
//	docs, errs := model.ParseFile("apps/web.yaml", data)
//	for _, err := range errs {
//		fmt.Println(err) // apps/web.yaml:12: document 2: spec.instances: must be >= 0
//	}
//	errs = append(errs, model.Check(docs)...) // rules that span files
//
// Parsed objects are plain values: safe to share between goroutines as long
// as nobody mutates them, which cellsync never does after parsing.
package model
