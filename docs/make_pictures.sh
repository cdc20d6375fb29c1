#!/usr/bin/env bash
# Regenerate the README's pictures:
#   docs/lecture-slides.png  four slides of the lecture deck on one picture
#   docs/exam-page.png       the first page of an exam beside the same questions in its key
#   docs/lecture-charts.png  the lecture deck's chart of memory against batch size beside its
#                            chart of each layer's share of the activations
# Usage: docs/make_pictures.sh [slides|exam|charts]   (all when left out)
# Needs symcnn installed (or SYMCNN="python3 -m symcnn" from the checkout's root), TeX
# (latexmk, beamer, the exam class) and poppler-utils (pdftoppm).
set -euo pipefail
symcnn=${SYMCNN:-symcnn}
root=$(pwd)
docs=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# pages FILE.pdf PAGE FILE.pdf PAGE OUT [HEIGHT]: two pages side by side as docs/OUT.png
# (HEIGHT: of the picture, 15.6cm for A4 pages)
pages() {
    cat > "$work/grid.tex" <<TEX
\documentclass{article}
\usepackage[paperwidth=24cm,paperheight=${6:-15.6cm},margin=2mm]{geometry}
\usepackage{graphicx}
\pagestyle{empty}
\setlength{\fboxsep}{0pt}
\begin{document}\noindent
\fbox{\includegraphics[page=$2,width=11.7cm]{$1}}\hfill\fbox{\includegraphics[page=$4,width=11.7cm]{$3}}
\end{document}
TEX
    (cd "$work" && latexmk -pdf -interaction=nonstopmode -halt-on-error grid.tex >/dev/null)
    pdftoppm -r 110 -png -singlefile "$work/grid.pdf" "$docs/$5"
    rm -f "$work"/grid.*
    echo "wrote docs/$5.png"
}

slides() {
    (cd "$root" && $symcnn render --template slides --out "$work" --pdf >/dev/null)
    cat > "$work/grid.tex" <<'TEX'
\documentclass{article}
\usepackage[paperwidth=24cm,paperheight=14.3cm,margin=2mm]{geometry}
\usepackage{graphicx}
\pagestyle{empty}
\setlength{\fboxsep}{0pt}
\newcommand{\slide}[1]{\fbox{\includegraphics[page=#1,width=11.7cm]{lecture-3d-cnn-slides.pdf}}}
\begin{document}\noindent
\slide{2}\hfill\slide{3}\par\vspace{2mm}\noindent
\slide{6}\hfill\slide{8}
\end{document}
TEX
    (cd "$work" && latexmk -pdf -interaction=nonstopmode -halt-on-error grid.tex >/dev/null)
    pdftoppm -r 110 -png -singlefile "$work/grid.pdf" "$docs/lecture-slides"
    rm -f "$work"/grid.*
    echo "wrote docs/lecture-slides.png"
}

# page FILE.pdf TITLE: the number of the first page whose text begins with TITLE
page() {
    local n=1
    while pdftotext -f "$n" -l "$n" "$1" - 2>/dev/null | head -1 | grep -q .; do
        if pdftotext -f "$n" -l "$n" "$1" - | head -1 | grep -qF "$2"; then echo "$n"; return; fi
        n=$((n + 1))
    done
    echo "no page titled '$2' in $1" >&2; exit 1
}

charts() {
    (cd "$root" && $symcnn render --template slides --out "$work" --pdf >/dev/null)
    local deck="$work/lecture-3d-cnn-slides.pdf"
    pages lecture-3d-cnn-slides.pdf "$(page "$deck" "Training Memory against Batch Size")" \
        lecture-3d-cnn-slides.pdf "$(page "$deck" "Activation Memory per Layer")" lecture-charts 7cm
}

exam() {
    (cd "$root" && $symcnn exam --variants 1 --seed 2025 --out "$work" --pdf >/dev/null 2>&1)
    pages exam-001.pdf 1 key-001.pdf 2 exam-page
}

case "${1:-all}" in
    slides) slides ;;
    exam) exam ;;
    charts) charts ;;
    all) slides; exam; charts ;;
    *) echo "usage: $0 [slides|exam|charts]" >&2; exit 2 ;;
esac
