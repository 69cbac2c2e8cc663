# lamina.pc. liblamina needs cpu_features, PCRE2, OpenMP and libm. A shared liblamina
# carries them itself (Libs.private, for `pkg-config --static`); the static
# one, the default, cannot, so plain `pkg-config --libs lamina` lists them too
# and `cc app.c $(pkg-config --cflags --libs lamina)` links either way.
set(LAMINA_PC_PRIVATE_LIBS "-lcpu_features -lpcre2-8 ${OpenMP_C_FLAGS} -lm")
if(BUILD_SHARED_LIBS)
  set(LAMINA_PC_STATIC_LIBS "")
else()
  set(LAMINA_PC_STATIC_LIBS " ${LAMINA_PC_PRIVATE_LIBS}")
endif()
set(pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH LAMINA_PC_UP /${pc_dir} /)
string(REGEX REPLACE "/$" "" LAMINA_PC_UP "${LAMINA_PC_UP}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/lamina.pc.in ${PROJECT_BINARY_DIR}/lamina.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/lamina.pc DESTINATION ${pc_dir})
