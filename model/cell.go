package model

// Capacity is what a cell offers to instances.
type Capacity struct {
	MemoryMB   int64 `json:"memoryMB"`
	DiskMB     int64 `json:"diskMB"`
	Containers int   `json:"containers"`
}

// Cell states.
const (
	// CellReady cells accept new work.
	CellReady = "ready"
	// CellEvacuating cells are shutting down: the hub re-places their work
	// and places nothing new on them.
	CellEvacuating = "evacuating"
)

// Cell is the registration record a cell agent keeps in etcd under its lease.
type Cell struct {
	Name     string            `json:"name"`
	Zone     string            `json:"zone,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Capacity Capacity          `json:"capacity"`
	Runtime  string            `json:"runtime,omitempty"`
	Version  string            `json:"version,omitempty"`
	// State is CellReady or CellEvacuating; empty means ready.
	State string `json:"state,omitempty"`
	// LogsURL is where the cell serves its containers' output
	// ("https://host:port", mutual TLS; or "http://127.0.0.1:port"); empty
	// when it serves none.
	LogsURL string `json:"logsURL,omitempty"`
}

// CheckCellName returns an error unless name is a valid cell name: a DNS
// label, at most 63 characters. Identities, certificate files and etcd key
// prefixes are made from cell names, so every command taking one checks it.
func CheckCellName(name string) error { return checkName(name) }

// Validate checks a cell record, as a cell agent builds it from flags.
func (c *Cell) Validate() error {
	if err := checkName(c.Name); err != nil {
		return &Error{Field: "name", Msg: err.Error()}
	}
	if c.Capacity.MemoryMB <= 0 || c.Capacity.DiskMB <= 0 || c.Capacity.Containers <= 0 {
		return &Error{Field: "capacity", Msg: "memoryMB, diskMB and containers must be > 0"}
	}
	for k := range c.Labels {
		if err := checkLabelKey(k); err != nil {
			return &Error{Field: "labels." + k, Msg: err.Error()}
		}
	}
	return nil
}
