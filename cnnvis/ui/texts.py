"""The page's words and style: the introduction, the longer explanations, the words for
option values, and the CSS."""

from __future__ import annotations

INTRO = """
# cnnvis · what do ImageNet CNNs see?
Pick a photo (or click an example) and one of the 40 ImageNet networks of
`keras.applications`, then open a tab: it shows what the network sees in the photo, and
its button runs it again with your settings (the slow tabs show a result once it has been
computed). Every picture can be downloaded as a PNG, and every tab is also an API endpoint
("Use via API", at the bottom).
"""

FILTERS_NOTE = (
    "Filters belong to the model: they are the same for every photo. Only the first "
    "layer's can be read as pictures; to see what a deeper filter responds to, use "
    "the **Feature visualisation** tab."
)

COMPARE_TEXT = """
Is an explanation right? Three checks, each on the photo and the class chosen here:
**deletion & insertion** (do the pixels a method points at matter to the model?),
the **sanity check** (does the map change when the model's weights are destroyed?) and
the **pointing game** (is the map's strongest point on the object?).
"""
SANITY_TEXT = (
    "The layers of a copy of the model are re-drawn at random, from the classifier down "
    "to the first convolution, and each method's map is compared with the trained "
    "model's. A map that explains the model must change as its weights are destroyed: a "
    "method whose map stays the same shows the photo's edges, not what the model learnt. "
    "ρ (rho), the rank correlation with the trained model's map, should fall towards 0. "
    "*(Adebayo et al. 2018, Sanity Checks for Saliency Maps)*"
)
POINTING_TEXT = (
    "Draw over the object on the photo (a scribble or its outline will do): the box "
    "around what you draw is the object's box, and you can type or correct its corners. "
    "A method scores a hit when its map's strongest point falls in the box, or within the "
    "tolerance. *(Zhang et al. 2016, Top-down Neural Attention by Excitation Backprop)*"
)
BOX_NOTE = (
    "The box, in pixels of the photo: (x0, y0) its top left corner, (x1, y1) its bottom right one."
)

# Where the class every tab explains came from, under each class picker (one choice for
# the whole page: issue 24 asks that every tab says which class and why).
CLASS_FROM = {
    "top": "The photo's top class, as the model predicts it. Pick another here, in any "
    "tab, or click a prediction above: every tab then explains it.",
    "clicked": "Clicked in the top-5 predictions above; every tab explains this class.",
    "picked": "Picked in the {tab} tab; every tab explains this class.",
}

# How an option's values read in a radio or dropdown, in the order they are offered
# (values not listed here come after these, as the registry orders them, shown as they are).
CHOICE_WORDS = {
    "norm": "strongest (largest weights)",
    "first": "first ones",
    "most_active": "most active for this photo",
    "black": "black",
    "white": "white",
    "blur": "the photo, blurred",
}

CSS = """
.gradio-container { max-width: 1280px !important; }
.technique-text { font-size: 0.95em; }
/* long captions (model · layer · class · method · note) wrap instead of being cut */
.gallery-container caption.caption {
  white-space: normal; overflow-wrap: anywhere; max-width: 100%; padding: 0 1em;
}
/* A result gallery's preview (issue 24) takes the room its picture and its whole caption
   need, in the page's flow, instead of a fixed box: no caption line lost under the
   thumbnails, no empty blurred band above a wide picture on a phone. */
.results-gallery { height: auto !important; }
.results-gallery .gallery-container .preview {
  position: relative !important; inset: auto !important; height: auto !important;
  display: flex !important; flex-direction: column; align-items: stretch; gap: 6px;
  padding-top: 36px;  /* the download, fullscreen and close buttons */
}
.results-gallery .gallery-container .preview ~ .grid-wrap { display: none !important; }
.results-gallery .preview .media-button {
  height: auto !important; max-height: none !important; width: 100%; flex: none;
}
.results-gallery .preview .media-button img {
  width: 100%; height: auto; max-height: 560px; object-fit: contain;
}
.results-gallery .preview caption.caption {
  display: block; position: static; white-space: normal; overflow: visible; max-height: none;
  text-overflow: clip;
}
.results-gallery .preview .thumbnails {
  flex: none; position: static !important; transform: none !important; margin: 0 auto;
}
/* the preview no longer covers a grid: no blur, the gallery's label shows plainly */
.results-gallery .gallery-container .preview {
  backdrop-filter: none !important; background: transparent !important;
}
/* Pictures whose labels are drawn in them (filter and map sheets, the sanity grid, the
   charts) keep their own size on a phone, in a strip that scrolls sideways: shrunk to
   the screen their labels would be about 5 px high; at their size they are 12 px or more. */
@media (max-width: 640px) {
  .labelled-pictures .preview .media-button { overflow-x: auto; }
  .labelled-pictures .preview .media-button img {
    width: auto !important; max-width: none !important; max-height: none !important;
  }
  #faithfulness-chart .image-frame, #trust-chart .image-frame { overflow-x: auto; }
  #faithfulness-chart img, #trust-chart img {
    width: auto !important; max-width: none !important; max-height: none !important;
  }
}
/* pickers: a long entry ends before the arrow instead of running under it */
.wrap-inner .secondary-wrap input { text-overflow: ellipsis; padding-right: 4px; }
.wrap-inner .secondary-wrap { min-width: 0; }
/* grids of maps: the caption's start (rank, method, areas) on two lines, the whole
   caption on hover (a click shows it whole below the picture, in the gallery's preview) */
.gallery-container .caption-label {
  white-space: normal; max-width: 100%; font-size: 0.8em;
  display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
}
.gallery-container .thumbnail-item:hover .caption-label {
  display: block; -webkit-line-clamp: unset; max-height: 100%; overflow-y: auto; opacity: 1;
}
"""

# ----- the trust report (issue 14) ---------------------------------------------------------
COMPARE_INTRO = """
Is an explanation right? The **trust report** puts each method through every check at
once, on the photo and the class chosen here, and says which map to believe and why. The
other tabs run one check each: **deletion & insertion** (do the pixels a method points at
matter to the model?), the **sanity check** (does the map change when the model's weights
are destroyed?) and the **pointing game** (is the map's strongest point on the object?).
"""
TRUST_METHODS_INFO = (
    "Ticked: the quick ones; each map is computed nine times (once, then after each of 8 "
    "re-drawings of the classifier) and checked against 19 copies of itself moved across the "
    "photo. Those marked slow take minutes here."
)
TRUST_BOX_NOTE = (
    "The box drawn in the **Pointing game** tab comes here; or type its corners, in pixels "
    "of the photo. Leave the fields empty for a report without the pointing game."
)
COMPARE_SANITY_NOTE = (
    "⚠️ **This ranking is by deletion and insertion alone: it does not run the sanity check.** "
    "A method whose map hardly changes when the model's weights are destroyed (guided "
    "backprop is the classic case) can come first here. The **Trust report** tab checks "
    "both, compares each method with copies of its own map moved across the photo, and ranks "
    "every method that fails the sanity check below those that pass it."
)

CSS += """
/* the trust report's maps: the caption's start (rank, method, verdict) on two lines */
#trust-maps .caption-label {
  white-space: normal; max-width: 100%; font-size: 0.8em;
  display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
}
"""
