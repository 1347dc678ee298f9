package model

// Maxima of what one workload may ask for. Validation checks each and names
// the file, field and line of a value over it; together with the file
// limits of ParseFile they keep a workload from asking the hub or a cell
// for unbounded memory, time or work. docs/architecture.md lists them.
const (
	// MaxInstances bounds an LRP's instances.
	MaxInstances = 10000
	// MaxMemoryMB bounds resources.memoryMB (1 TiB).
	MaxMemoryMB = 1 << 20
	// MaxDiskMB bounds resources.diskMB (16 TiB).
	MaxDiskMB = 1 << 24
	// MaxCheckSeconds bounds a health check's intervalSeconds and
	// timeoutSeconds (one hour); larger values would overflow time.Duration.
	MaxCheckSeconds = 3600
	// MaxFailureThreshold bounds a health check's failureThreshold.
	MaxFailureThreshold = 100
	// MaxArgs and MaxArgBytes bound a command or a health check's exec:
	// its arguments and their total length.
	MaxArgs     = 1000
	MaxArgBytes = 128 << 10
	// MaxEnv and MaxEnvBytes bound a process's environment: its variables
	// and the total length of their names and values.
	MaxEnv      = 1000
	MaxEnvBytes = 128 << 10
	// MaxConfigRefs bounds the Configs one process references.
	MaxConfigRefs = 100
	// MaxConfigKeys bounds a Config's data keys; their total size is
	// bounded by the file's MaxText.
	MaxConfigKeys = 1000
	// MaxSetResources bounds the resources of one SelectorSyncSet.
	MaxSetResources = 1000
	// MaxLabels bounds an object's labels, and its annotations.
	MaxLabels = 64
	// MaxAnnotationBytes bounds one annotation's value.
	MaxAnnotationBytes = 4096
	// MaxImageLen bounds an image reference.
	MaxImageLen = 1024
	// MaxPathLen bounds a Config's mountPath (Linux's PATH_MAX).
	MaxPathLen = 4096
	// maxNameLen and maxLabelValue bound names and label values (DNS labels).
	maxNameLen    = 63
	maxLabelValue = 63
	// maxSelectorLen bounds a CEL selector's source.
	maxSelectorLen = 4096
	// MaxTaskTimeoutSeconds bounds a Task's timeoutSeconds: 7 days.
	MaxTaskTimeoutSeconds = 7 * 24 * 3600
	// maxResultFileLen bounds a Task's result file path.
	maxResultFileLen = 4096
)
