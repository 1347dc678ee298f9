package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long Watch waits after the last file event before
// reloading, so that an editor's write-rename-chmod burst is one reload.
const DefaultDebounce = 100 * time.Millisecond

// Watch reloads the config file at path whenever it changes and reports the
// outcome: a valid config whose file content changed goes to onChange;
// an invalid one, or a file that cannot be read, goes to onError with the
// message, and the caller keeps its current config. Callbacks run on Watch's
// goroutine, one at a time; onChange gets the file's config only, so a
// caller with flag overrides re-applies them.
//
// Watch watches the file's directory rather than the file, because editors
// and Kubernetes volume updates replace a file by rename. It blocks until ctx
// ends and returns nil then, after releasing the watcher; it returns an error
// only if the watch cannot be set up.
func Watch(ctx context.Context, path string, onChange func(Hub), onError func(error)) error {
	return watch(ctx, path, DefaultDebounce, onChange, onError, nil)
}

// watch is Watch with a debounce delay and a hook called once the watch is
// in place (for tests).
func watch(ctx context.Context, path string, debounce time.Duration, onChange func(Hub), onError func(error), ready func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config %s: %w", path, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		return fmt.Errorf("watch config %s: %w", path, err)
	}

	// The content last reported, so that events which do not change the
	// file (touch, chmod, a rewrite with the same bytes, other files in the
	// directory) report nothing, and a broken file is reported once.
	last, _ := os.ReadFile(path)
	var lastErr string

	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	if ready != nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			// Any event in the directory may be ours (a rename onto the
			// file, a Kubernetes ..data symlink swap): re-read after the
			// burst and compare content.
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			onError(fmt.Errorf("watch config %s: %w", path, err))
		case <-timer.C:
			data, err := os.ReadFile(path)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					err = fmt.Errorf("config %s was removed; keeping the current config", path)
				} else {
					err = fmt.Errorf("reload config: %w", err)
				}
				if err.Error() != lastErr {
					lastErr = err.Error()
					onError(err)
				}
				continue
			}
			if bytes.Equal(data, last) && lastErr == "" {
				continue
			}
			h, err := load(path, data)
			if err != nil {
				if err.Error() != lastErr {
					lastErr = err.Error()
					onError(err)
				}
				continue
			}
			last, lastErr = data, ""
			onChange(h)
		}
	}
}

// load parses and validates data, the content of the file at path.
func load(path string, data []byte) (Hub, error) {
	f, err := Parse(path, data)
	if err != nil {
		return Hub{}, err
	}
	if err := f.Validate(); err != nil {
		return Hub{}, f.Locate(err, path)
	}
	return f.Hub, nil
}
