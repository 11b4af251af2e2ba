# Executables that include LibTorch reuse liboft_core's precompiled header. GCC only accepts a PCH
# built with the same code model and the same -D macros: the library compiles with -fPIC, so these
# targets compile with -fPIC instead of CMake's -fPIE (and liboft_core defines no <target>_EXPORTS
# macro); otherwise GCC silently ignores the 600 MB PCH and reparses every LibTorch header. They also
# take liboft_core's hidden visibility, so that the declarations in the PCH mean the same here.
function(oft_reuse_core_pch target)
  target_precompile_headers(${target} REUSE_FROM oft_core)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF
                                             CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_compile_options(${target} PRIVATE -fPIC -Winvalid-pch)
endfunction()
