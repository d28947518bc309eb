package main

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// writeChart draws two bar charts side by side with gonum/plot: seal and
// open throughput per core for each suite, and the byte overhead of each
// suite on the mix (tunnel mode, as a percentage of goodput). format is
// "svg" or "png".
func writeChart(w io.Writer, format string, rates []Rate, overheads []float64, mix string) error {
	names := make([]string, len(rates))
	seal, open, over := make(plotter.Values, len(rates)), make(plotter.Values, len(rates)), make(plotter.Values, len(rates))
	for k, r := range rates {
		names[k], seal[k], open[k], over[k] = r.Suite, r.SealGbps, r.OpenGbps, overheads[k]
	}
	width := vg.Points(10)

	tp := plot.New()
	tp.Title.Text = fmt.Sprintf("Throughput per core, %d-byte packets", rates[0].Size)
	tp.Y.Label.Text = "Gbit/s"
	sb, err := plotter.NewBarChart(seal, width)
	if err != nil {
		return err
	}
	sb.Color, sb.Offset = color.RGBA{R: 31, G: 119, B: 180, A: 255}, -width/2
	ob, err := plotter.NewBarChart(open, width)
	if err != nil {
		return err
	}
	ob.Color, ob.Offset = color.RGBA{R: 255, G: 127, B: 14, A: 255}, width/2
	tp.Add(sb, ob)
	tp.Legend.Add("seal", sb)
	tp.Legend.Add("open", ob)
	tp.Legend.Top = true
	tp.NominalX(names...)
	tp.X.Tick.Label.Rotation = 0.6
	tp.X.Tick.Label.XAlign, tp.X.Tick.Label.YAlign = draw.XRight, draw.YCenter

	op := plot.New()
	op.Title.Text = "Byte overhead, " + mix + " mix, tunnel mode"
	op.Y.Label.Text = "% of goodput"
	bb, err := plotter.NewBarChart(over, 2*width)
	if err != nil {
		return err
	}
	bb.Color = color.RGBA{R: 44, G: 160, B: 44, A: 255}
	op.Add(bb)
	op.NominalX(names...)
	op.X.Tick.Label.Rotation = 0.6
	op.X.Tick.Label.XAlign, op.X.Tick.Label.YAlign = draw.XRight, draw.YCenter

	const wd, ht = 12 * vg.Inch, 5 * vg.Inch
	var c vg.CanvasWriterTo
	switch strings.ToLower(format) {
	case "svg":
		c = vgsvg.New(wd, ht)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.New(wd, ht)}
	default:
		return fmt.Errorf("overhead: chart format %q: want svg or png", format)
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 4, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8}
	canvases := plot.Align([][]*plot.Plot{{tp, op}}, tiles, dc)
	tp.Draw(canvases[0][0])
	op.Draw(canvases[0][1])
	_, err = c.WriteTo(w)
	return err
}

// chartFormat is the format named by a file's extension.
func chartFormat(path string) string { return strings.TrimPrefix(filepath.Ext(path), ".") }
