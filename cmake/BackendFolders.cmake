# oft_add_backend_subdirectories([FOLDER]): add_subdirectory() for every sub-folder of
# ${CMAKE_CURRENT_SOURCE_DIR}/FOLDER (default: the current folder) that has a CMakeLists.txt, in name
# order. plugins/, tests/backends/ and bench/backends/ use it, so a backend is added by its own folders
# alone and no backend is named outside them. CONFIGURE_DEPENDS: a new folder reconfigures the build.
function(oft_add_backend_subdirectories)
  set(parent ${CMAKE_CURRENT_SOURCE_DIR})
  if(ARGC GREATER 0)
    set(parent ${CMAKE_CURRENT_SOURCE_DIR}/${ARGV0})
  endif()
  file(GLOB children LIST_DIRECTORIES true CONFIGURE_DEPENDS ${parent}/*)
  foreach(child IN LISTS children)
    if(IS_DIRECTORY ${child} AND EXISTS ${child}/CMakeLists.txt)
      file(RELATIVE_PATH folder ${CMAKE_CURRENT_SOURCE_DIR} ${child})
      add_subdirectory(${folder})  # relative: its build folder mirrors the source folder
    endif()
  endforeach()
endfunction()
