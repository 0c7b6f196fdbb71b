"""The β lab's analyses: what a β sweep is and where its runs are (:mod:`.sweep`), its
measures (:mod:`.measures`: sharpness, sample quality, the IWAE gap, memorisation; a
classifier for sample quality, :mod:`.classifier`), a sweep's report from its runs
(:mod:`.report`) and its reading in words (:mod:`.reading`). No Streamlit."""
