#!/usr/bin/env bash
# Regenerate docs/lecture-slides.png: four slides of the lecture deck on one picture.
# Needs symcnn installed, TeX (latexmk, beamer) and poppler-utils (pdftoppm).
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
symcnn render --template slides --out "$work" --pdf >/dev/null
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
pdftoppm -r 110 -png -singlefile "$work/grid.pdf" lecture-slides
echo "wrote docs/lecture-slides.png"
