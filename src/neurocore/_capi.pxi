# The C API for other extension modules (csrc/include/neurocore/nc_api.h):
# the library's table of kernel pointers, published as the capsule
# neurocore._kernels._C_API.  The module exports no C symbol; another
# extension fetches this capsule with nc_import_api() (C) or the
# neurocore.nc_api .pxd (Cython), as NumPy's import_array() does.

from cpython.pycapsule cimport PyCapsule_New

cdef extern from "neurocore/nc_api.h":
    ctypedef struct nc_api_t:
        unsigned int version
        size_t size
    const nc_api_t *nc_get_api()
    const char *NC_API_CAPSULE_NAME


_C_API = PyCapsule_New(<void *>nc_get_api(), NC_API_CAPSULE_NAME, NULL)


def _c_api_version():
    """(version, size in bytes) of the C-API table this module publishes."""
    cdef const nc_api_t *table = nc_get_api()
    return table.version, table.size
