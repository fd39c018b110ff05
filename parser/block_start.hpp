// Recognising the statement that opens a transaction block, from its text alone.
#pragma once

#include <string_view>

namespace staleguard::parser {

// True for `BEGIN` and `START TRANSACTION` (any case, any options after them), as drivers send
// them ahead of a statement in one batch (pgjdbc with autocommit off). Deliberately narrow: text
// with a leading comment, or anything else, is false, so a false answer only costs speed.
bool opens_transaction_block(std::string_view sql);

}  // namespace staleguard::parser
