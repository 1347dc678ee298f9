package scaletest

import (
	"bytes"
	"fmt"
	"html"
	"strings"

	chart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
)

// Chart dimensions, in SVG pixels, of one phase's panel.
const (
	chartWidth  = 960
	chartHeight = 280
	titleHeight = 26
)

// Chart renders one panel per phase, stacked in one SVG: the hub's queue
// depths and the cells that have applied their last write (left axis), and
// the per-cell keys the hub wrote per second (right axis), against seconds
// since the phase began.
func (r *Report) Chart() ([]byte, error) {
	var panels [][]byte
	var titles []string
	for _, p := range r.Phases {
		var samples []Sample
		for _, s := range r.Samples {
			if s.Phase == p.Name {
				samples = append(samples, s)
			}
		}
		svg, err := panel(p, samples)
		if err != nil {
			return nil, fmt.Errorf("chart phase %s: %w", p.Name, err)
		}
		panels = append(panels, svg)
		title := fmt.Sprintf("%s: %s (%.1f s)", p.Name, p.Title, p.Seconds)
		if p.Error != "" {
			title += " FAILED"
		}
		titles = append(titles, title)
	}
	step := chartHeight + titleHeight
	var out bytes.Buffer
	fmt.Fprintf(&out, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n",
		chartWidth, step*len(panels), chartWidth, step*len(panels))
	out.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	for i, p := range panels {
		// Each panel is a complete <svg>; nesting it with a y offset stacks
		// the panels without re-rendering them.
		s := string(p)
		if j := strings.Index(s, "<svg"); j >= 0 {
			s = s[j:]
		}
		fmt.Fprintf(&out, `<text x="%d" y="%d" font-family="sans-serif" font-size="16" font-weight="bold">%s</text>`+"\n",
			12, i*step+titleHeight-6, html.EscapeString(titles[i]))
		// A nested <svg> without a size fills its parent, so each panel
		// gets its own; go-chart's root element only carries a viewBox.
		s = strings.Replace(s, "<svg", fmt.Sprintf(`<svg x="0" y="%d" width="%d" height="%d"`, i*step+titleHeight, chartWidth, chartHeight), 1)
		out.WriteString(s)
		out.WriteString("\n")
	}
	out.WriteString("</svg>\n")
	return out.Bytes(), nil
}

func panel(p *Phase, samples []Sample) ([]byte, error) {
	// A series needs two points; a phase shorter than one sample interval
	// is drawn flat.
	for len(samples) < 2 {
		samples = append(samples, Sample{T: p.Start + p.Seconds*float64(len(samples))})
	}
	n := len(samples)
	xs := make([]float64, n)
	fanout, apply, rate, applied := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, s := range samples {
		xs[i] = s.T - p.Start
		fanout[i], apply[i], rate[i], applied[i] = s.Fanout, s.Apply, s.InstancesPerSec, float64(s.CellsApplied)
	}
	g := chart.Chart{
		Width:  chartWidth,
		Height: chartHeight,
		Background: chart.Style{
			Padding: chart.Box{Top: 40, Left: 30, Right: 10, Bottom: 10},
		},
		XAxis:          chart.XAxis{Name: "seconds since phase start", ValueFormatter: format("%.1f")},
		YAxis:          chart.YAxis{Name: "keys written / s", ValueFormatter: format("%.0f"), Range: &chart.ContinuousRange{Min: 0, Max: top(rate)}},
		YAxisSecondary: chart.YAxis{Name: "queue depth, cells", ValueFormatter: format("%.0f"), Range: &chart.ContinuousRange{Min: 0, Max: max(top(apply), top(fanout), top(applied))}},
		Series: []chart.Series{
			chart.ContinuousSeries{Name: "hub keys written / s", XValues: xs, YValues: rate,
				Style: chart.Style{StrokeColor: drawing.ColorFromHex("2a9d8f"), StrokeWidth: 2}},
			chart.ContinuousSeries{Name: "apply queue", XValues: xs, YValues: apply, YAxis: chart.YAxisSecondary,
				Style: chart.Style{StrokeColor: drawing.ColorFromHex("e76f51"), StrokeWidth: 2}},
			chart.ContinuousSeries{Name: "fan-out queue", XValues: xs, YValues: fanout, YAxis: chart.YAxisSecondary,
				Style: chart.Style{StrokeColor: drawing.ColorFromHex("264653"), StrokeWidth: 1.5, StrokeDashArray: []float64{4, 3}}},
			chart.ContinuousSeries{Name: "cells applied", XValues: xs, YValues: applied, YAxis: chart.YAxisSecondary,
				Style: chart.Style{StrokeColor: drawing.ColorFromHex("8e7dbe"), StrokeWidth: 2}},
		},
	}
	g.Elements = []chart.Renderable{chart.LegendThin(&g)}
	var buf bytes.Buffer
	if err := g.Render(chart.SVG, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// top is the upper end of an axis showing vs: never zero, which go-chart
// rejects.
func top(vs []float64) float64 {
	m := 1.0
	for _, v := range vs {
		m = max(m, v)
	}
	return m * 1.05
}

// format returns a tick formatter printing floats with layout.
func format(layout string) chart.ValueFormatter {
	return func(v any) string {
		if f, ok := v.(float64); ok {
			return fmt.Sprintf(layout, f)
		}
		return fmt.Sprint(v)
	}
}
