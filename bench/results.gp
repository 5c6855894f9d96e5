# The chart in bench/results.png, drawn by bench/run.sh:
#   gnuplot -e "datafile='results.dat'; outfile='results.png'; subtitle='...'" bench/results.gp
# datafile (written by bench/report.py): index 0 = CPU µs per request, one row per
# scenario, one column per server; index 1 = idle memory, bytes per connection.
if (!exists("subtitle")) subtitle = ""
# Servers = data columns after the first; a cluster's bars are 1/(N+1) wide (gap 1).
N = int(system("head -n 1 '".datafile."' | wc -w")) - 1
xbar(i) = $0 + (i - 2 - (N - 1) / 2.0) / (N + 1.0)
set terminal pngcairo size 1280,560 font "sans,10"
set output outfile
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left autotitle columnhead
set grid ytics
set yrange [0:*]
set xtics nomirror
set ytics nomirror
set multiplot layout 1,2 title "kahttpd and the servers it is measured against: one worker on CPU 0, wrk -t1 on CPU 1, medians\n".subtitle

set size 0.72,0.92
set origin 0,0
set title "server CPU time per request (lower is better)"
set ylabel "CPU µs / request"
plot for [i=2:N+1] datafile index 0 using i:xtic(1) lc (i-1), \
     for [i=2:N+1] datafile index 0 using (xbar(i)):i:(sprintf("%.1f", column(i))) \
         with labels offset 0,0.7 font ",8" notitle

set size 0.28,0.92
set origin 0.72,0
set title "memory per idle keep-alive connection"
set ylabel "bytes of RSS / connection"
set key top left
plot for [i=2:N+1] datafile index 1 using i:xtic(1) lc (i-1), \
     for [i=2:N+1] datafile index 1 using (xbar(i)):i:(sprintf("%.0f", column(i))) \
         with labels offset 0,0.7 font ",8" notitle

unset multiplot
