# scripts/bench's plot of the raw suite: median round trip by payload size, one line per
# transport measured (latency.svg). Filled in with string.Template.
set encoding utf8
set terminal svg size 800,500 dynamic font 'sans,12' background rgb 'white'
set output '${output}'
set title 'Round-trip latency by payload size: median of ${rounds} round(s), ipc\_bench'
set logscale x 2
set xrange [${smallest} / 2.0 : ${largest} * 2.0]
set xtics (${xtics})
set xlabel 'payload (log scale)'
set ylabel 'median round trip (µs)'
set yrange [0:*]
set grid
set key top left
plot ${plot}
