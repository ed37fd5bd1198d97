// ModelSpec helpers: mapped files, dtype sizes, weight validation.
// (E1 fills this in.)
#include "compiler/ModelSpec.h"
