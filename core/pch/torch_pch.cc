// Anchors the shared precompiled header (see core/pch/torch_pch.h).
