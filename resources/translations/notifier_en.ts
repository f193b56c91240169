<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
<context>
    <name>HourChart</name>
    <message numerus="yes">
        <source>%n order(s) today</source>
        <translation>
            <numerusform>%n order today</numerusform>
            <numerusform>%n orders today</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%1:00–%2:00: %n order(s)</source>
        <translation>
            <numerusform>%1:00–%2:00: %n order</numerusform>
            <numerusform>%1:00–%2:00: %n orders</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>OrdersWindow</name>
    <message numerus="yes">
        <source>%n order(s) shown</source>
        <translation>
            <numerusform>%n order shown</numerusform>
            <numerusform>%n orders shown</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n still ringing</source>
        <translation>
            <numerusform>%n still ringing</numerusform>
            <numerusform>%n still ringing</numerusform>
        </translation>
    </message>
</context>
</TS>
