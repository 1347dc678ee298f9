// Package imagebuild writes small OCI images without a registry or a build
// tool: a single-layer image from files on the host, packed as an OCI
// image-layout tar that containerd (or any OCI tool) imports. cellsync uses
// it to ship a busybox image (Debian's busybox-static) to cells that cannot
// pull, in tests and in `cellsync up`.
//
// It owns nothing and starts no goroutine: Busybox and Write are plain
// functions.
//
//	var buf bytes.Buffer
//	err := imagebuild.Busybox(&buf, "cellsync.local/busybox:1", "/bin/busybox")
//	// then: containerd runtime's Import(ctx, &buf)
package imagebuild
