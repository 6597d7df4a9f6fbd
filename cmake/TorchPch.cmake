# promptintern_reuse_torch_pch(<target>): the libtorch precompiled header for the sources of
# <target> that reach libtorch, and no precompiled header for the others.
#
# Why per source: the header (core/pch/torch_pch.h) is a 600 MB GCC image whose loading alone costs
# a translation unit about 13 s here, while it saves about 17 s only where libtorch is really
# included (measured on one core: core/model/rope.cc 33.8 s without it, 16.6 s with it;
# core/data/jsonl.cc 10.8 s without it, 23.9 s with it). Most of our sources never see a tensor.
#
# A source "reaches libtorch" when it, or a project header it includes (followed transitively,
# quoted includes resolved against the source root and the including file's folder), includes a
# header of torch/, ATen/ or c10/. The scan runs at configure time; it only chooses a build speed,
# never what compiles: a source without the header must include what it uses, as it should anyway.

# Sets <result> to TRUE when <file> reaches libtorch. Results are memoised per file in global
# properties, so each header is read once per configure.
function(_promptintern_reaches_torch file result)
  get_property(known GLOBAL PROPERTY "_PI_TORCH_SCANNED_${file}" SET)
  if(known)
    get_property(value GLOBAL PROPERTY "_PI_TORCH_SCANNED_${file}")
    set(${result} ${value} PARENT_SCOPE)
    return()
  endif()
  # Marked before recursing so that an include cycle ends (guarded headers make it harmless).
  set_property(GLOBAL PROPERTY "_PI_TORCH_SCANNED_${file}" FALSE)
  file(STRINGS "${file}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  get_filename_component(folder "${file}" DIRECTORY)
  set(reaches FALSE)
  foreach(line IN LISTS includes)
    if(line MATCHES "[<\"](torch|ATen|c10)/")
      set(reaches TRUE)
      break()
    endif()
    if(NOT line MATCHES "\"([^\"]+)\"")
      continue()
    endif()
    set(name "${CMAKE_MATCH_1}")
    foreach(candidate "${CMAKE_SOURCE_DIR}/${name}" "${folder}/${name}")
      if(EXISTS "${candidate}" AND NOT IS_DIRECTORY "${candidate}")
        _promptintern_reaches_torch("${candidate}" included_reaches)
        if(included_reaches)
          set(reaches TRUE)
        endif()
        break()
      endif()
    endforeach()
    if(reaches)
      break()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY "_PI_TORCH_SCANNED_${file}" ${reaches})
  set(${result} ${reaches} PARENT_SCOPE)
endfunction()

function(promptintern_reuse_torch_pch target)
  target_precompile_headers(${target} REUSE_FROM torch_pch)
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  set(with_header 0)
  set(without_header 0)
  foreach(source IN LISTS sources)
    if(NOT source MATCHES "\\.cc$")
      continue()
    endif()
    get_filename_component(path "${source}" ABSOLUTE BASE_DIR "${source_dir}")
    _promptintern_reaches_torch("${path}" reaches)
    if(reaches)
      math(EXPR with_header "${with_header} + 1")
    else()
      set_source_files_properties("${path}" TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
      math(EXPR without_header "${without_header} + 1")
    endif()
  endforeach()
  message(STATUS "${target}: libtorch precompiled header for ${with_header} sources, none for ${without_header}")
endfunction()
