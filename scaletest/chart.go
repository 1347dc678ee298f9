package scaletest

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	stdfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Layout of the phase chart, in points; rendered at chartDPI.
const (
	chartDPI      = 128
	chartWidth    = 720
	legendHeight  = 30
	headingHeight = 26
	panelHeight   = 150
	leftShare     = 0.6 // of the width, for the counts panel
)

// series is one line of the phase chart: its name, style and the sample
// field it shows.
type series struct {
	name   string
	color  color.RGBA
	dashed bool
	value  func(Sample) float64
	// rate series go in the right-hand panel.
	rate bool
}

var phaseSeries = []series{
	{name: "cells applied", color: rgb(0x6a, 0x4c, 0x93), value: func(s Sample) float64 { return float64(s.CellsApplied) }},
	{name: "apply queue (cells)", color: rgb(0xe7, 0x6f, 0x51), value: func(s Sample) float64 { return s.Apply }},
	{name: "fan-out queue (workloads)", color: rgb(0x26, 0x46, 0x53), dashed: true, value: func(s Sample) float64 { return s.Fanout }},
	{name: "per-cell keys the hub wrote / s", color: rgb(0x2a, 0x9d, 0x8f), rate: true, value: func(s Sample) float64 { return s.InstancesPerSec }},
}

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{R: r, G: g, B: b, A: 255} }

// Chart renders the run as one PNG image: a shared legend, then one row per
// phase with its title, the cells that have applied the hub's last write
// and the queue depths (left), and the per-cell keys the hub wrote per
// second (right), against seconds since the phase began.
func (r *Report) Chart() ([]byte, error) {
	height := vg.Length(legendHeight) + vg.Length(len(r.Phases))*(headingHeight+panelHeight)
	c := vgimg.NewWith(vgimg.UseWH(chartWidth, height), vgimg.UseDPI(chartDPI))
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	drawLegend(dc, height)
	top := height - legendHeight
	for _, p := range r.Phases {
		title := fmt.Sprintf("%s: %s (%.1f s)", p.Name, p.Title, p.Seconds)
		if p.Error != "" {
			title += " — FAILED"
		}
		dc.FillText(textStyle(11, true), vg.Point{X: 6, Y: top - headingHeight/2}, title)
		row := top - headingHeight
		samples := r.samplesOf(p)
		left, err := phasePlot(p, samples, false)
		if err != nil {
			return nil, err
		}
		right, err := phasePlot(p, samples, true)
		if err != nil {
			return nil, err
		}
		split := vg.Length(chartWidth * leftShare)
		left.Draw(crop(dc, 0, row-panelHeight, split, row))
		right.Draw(crop(dc, split, row-panelHeight, chartWidth, row))
		top = row - panelHeight
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render chart: %w", err)
	}
	return buf.Bytes(), nil
}

// samplesOf returns the samples taken during phase p.
func (r *Report) samplesOf(p *Phase) []Sample {
	var out []Sample
	for _, s := range r.Samples {
		if s.Phase == p.Name {
			out = append(out, s)
		}
	}
	return out
}

// phasePlot draws one panel of a phase: the counts, or the rate.
func phasePlot(p *Phase, samples []Sample, rate bool) (*plot.Plot, error) {
	pl := plot.New()
	pl.X.Label.Text = "seconds since the phase began"
	pl.Y.Label.Text = "cells, queue depth"
	if rate {
		pl.Y.Label.Text = "keys / s"
	}
	pl.X.Min, pl.X.Max = 0, max(p.Seconds, 0.1)
	pl.Y.Min, pl.Y.Max = 0, 1
	pl.X.Tick.Marker = ticks{}
	pl.Y.Tick.Marker = ticks{}
	pl.Add(plotter.NewGrid())
	for _, s := range phaseSeries {
		if s.rate != rate {
			continue
		}
		xys := make(plotter.XYs, 0, len(samples))
		for _, smp := range samples {
			x := smp.T - p.Start
			if x < 0 || x > p.Seconds {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: s.value(smp)})
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("chart phase %s: %w", p.Name, err)
		}
		l.LineStyle = lineStyle(s)
		pl.Add(l)
		for _, xy := range xys {
			pl.Y.Max = math.Max(pl.Y.Max, xy.Y*1.08)
		}
	}
	return pl, nil
}

// drawLegend draws the shared legend across the top of the chart.
func drawLegend(dc draw.Canvas, height vg.Length) {
	x := vg.Length(8)
	y := height - legendHeight/2
	sty := textStyle(11, false)
	for _, s := range phaseSeries {
		dc.StrokeLine2(lineStyle(s), x, y, x+24, y)
		x += 30
		dc.FillText(sty, vg.Point{X: x, Y: y}, s.name)
		x += sty.Width(s.name) + 22
	}
}

func lineStyle(s series) draw.LineStyle {
	ls := draw.LineStyle{Color: s.color, Width: vg.Points(1.6)}
	if s.dashed {
		ls.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	return ls
}

// textStyle is a left-aligned, vertically centred text style.
func textStyle(size vg.Length, bold bool) draw.TextStyle {
	f := plot.DefaultFont
	if bold {
		f.Weight = stdfont.WeightBold
	}
	return draw.TextStyle{
		Color:   color.Black,
		Font:    font.From(f, size),
		Handler: plot.DefaultTextHandler,
		XAlign:  text.XLeft,
		YAlign:  text.YCenter,
	}
}

// crop returns the part of dc between (x0, y0) and (x1, y1).
func crop(dc draw.Canvas, x0, y0, x1, y1 vg.Length) draw.Canvas {
	return draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{X: x0, Y: y0}, Max: vg.Point{X: x1, Y: y1}}}
}

// ticks are gonum's default ticks labelled with no more digits than the
// values need ("500", not "500.00").
type ticks struct{}

func (ticks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if strings.Contains(ts[i].Label, ".") {
			ts[i].Label = strings.TrimSuffix(strings.TrimRight(ts[i].Label, "0"), ".")
		}
	}
	return ts
}

// growthSeries are the grid rows the growth chart draws, with their colors;
// the first of each panel anchors the dashed linear reference.
var growthSeries = []struct {
	phase, key, label string
	color             color.RGBA
	memory            bool
}{
	{"commit", "stored", "commit: stored", rgb(0x2a, 0x9d, 0x8f), false},
	{"commit", "applied", "commit: applied", rgb(0x6a, 0x4c, 0x93), false},
	{"add-res", "stored", "one edit: stored", rgb(0xe7, 0x6f, 0x51), false},
	{"add-res", "applied", "one edit: applied", rgb(0xf4, 0xa2, 0x61), false},
	{"restart", "resync", "restart: resynced", rgb(0x26, 0x46, 0x53), false},
	{"commit", "rss", "process RSS (commit peak)", rgb(0x2a, 0x9d, 0x8f), true},
	{"restart", "heap", "hub live heap", rgb(0xe7, 0x6f, 0x51), true},
}

// Chart renders the grid's growth as a PNG: seconds per phase (left) and
// memory (right) against cells, both on log-log axes, where a dashed line
// of slope 1 from the first series' first point shows linear growth. Each panel's
// legend sits below it, clear of the lines.
func (g *Grid) Chart() ([]byte, error) {
	const width, plotHeight, legendRow = 720, 280, 16
	rows := 0
	for _, memory := range []bool{false, true} {
		n := 1 // the linear reference
		for _, s := range growthSeries {
			if s.memory == memory {
				n++
			}
		}
		rows = max(rows, (n+1)/2)
	}
	height := vg.Length(plotHeight + rows*legendRow + 8)
	c := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(chartDPI))
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	var sizes []float64
	for _, r := range g.Runs {
		sizes = append(sizes, float64(r.Cells))
	}
	half := vg.Length(width) / 2
	for i, memory := range []bool{false, true} {
		pl := plot.New()
		pl.Title.Text, pl.Y.Label.Text = "time per phase vs cells", "seconds"
		if memory {
			pl.Title.Text, pl.Y.Label.Text = "memory vs cells", "MB"
		}
		pl.Title.Padding = vg.Points(6)
		pl.X.Label.Text = "cells"
		pl.X.Scale, pl.Y.Scale = plot.LogScale{}, plot.LogScale{}
		pl.X.Tick.Marker, pl.Y.Tick.Marker = fixedTicks(sizes), logTicks{}
		pl.Add(plotter.NewGrid())
		type entry struct {
			label string
			style draw.LineStyle
		}
		var legend []entry
		for _, s := range growthSeries {
			if s.memory != memory {
				continue
			}
			var xys plotter.XYs
			for _, r := range g.Runs {
				if v, ok := r.value(s.phase, s.key); ok {
					xys = append(xys, plotter.XY{X: float64(r.Cells), Y: max(v, 1e-3)})
				}
			}
			if len(xys) < 2 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, fmt.Errorf("growth chart: %w", err)
			}
			l.LineStyle = draw.LineStyle{Color: s.color, Width: vg.Points(1.6)}
			pts.Color, pts.Shape = s.color, draw.CircleGlyph{}
			pl.Add(l, pts)
			legend = append(legend, entry{s.label, l.LineStyle})
			if len(legend) == 1 {
				last := xys[len(xys)-1].X
				rl, err := plotter.NewLine(plotter.XYs{xys[0], {X: last, Y: xys[0].Y * last / xys[0].X}})
				if err != nil {
					return nil, fmt.Errorf("growth chart: %w", err)
				}
				rl.LineStyle = draw.LineStyle{Color: color.Gray{Y: 140}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
				pl.Add(rl)
				legend = append(legend, entry{"linear growth", rl.LineStyle})
			}
		}
		x0 := half * vg.Length(i)
		pl.Draw(crop(dc, x0, height-plotHeight, x0+half-12, height))
		sty := textStyle(9, false)
		for j, e := range legend {
			x := x0 + 12 + vg.Length(j%2)*(half/2)
			y := height - plotHeight - vg.Length(j/2+1)*legendRow + 4
			dc.StrokeLine2(e.style, x, y, x+18, y)
			dc.FillText(sty, vg.Point{X: x + 22, Y: y}, e.label)
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render growth chart: %w", err)
	}
	return buf.Bytes(), nil
}

// fixedTicks labels exactly the given values (the grid's fleet sizes).
type fixedTicks []float64

func (f fixedTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for _, v := range f {
		if v >= lo && v <= hi {
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		}
	}
	return ts
}

// logTicks labels a log axis at 1, 2 and 5 times each power of ten, which
// reads better than powers of ten alone over the one or two decades a
// grid spans.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ts
}
