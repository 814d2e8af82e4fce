"""Reading a message's fields out of XML, the same way on both sides.

The seal is computed over field *texts*, so the client (verifying a response)
and the simulator (verifying a request) must read an element identically.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

__all__ = ["element_values"]

XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"


def element_values(element: etree._Element) -> dict[str, object]:
    """An element's children as {local name: text | nested dict | list}.

    Repeated names become a list in document order; ``xsi:nil`` becomes None;
    an empty element is the empty string.
    """
    values: dict[str, object] = {}
    for child in element:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        name = etree.QName(child).localname
        value: object
        if len(child):
            value = element_values(child)
        elif child.get(f"{{{XSI_NS}}}nil") in ("true", "1"):
            value = None
        else:
            value = child.text or ""
        if name in values:
            previous = values[name]
            if isinstance(previous, list):
                previous.append(value)
            else:
                values[name] = [previous, value]
        else:
            values[name] = value
    return values
