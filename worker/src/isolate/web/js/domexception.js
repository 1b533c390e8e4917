// The DOMException global (the class is in util.js, where every chunk
// gets it). Its legacy code constants are defined here at the latest.

defineDOMExceptionConstants();
expose('DOMException', DOMException);
